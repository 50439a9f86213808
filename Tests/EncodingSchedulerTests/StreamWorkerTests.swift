@testable import EncodingScheduler
import Gemma4Audio
import Resampling
import Testing
import VoiceActivity

/// A stream worker on its own, fed by hand on the test's thread.
@Suite struct StreamWorkerTests {
    /// libsamplerate does not fail on valid input, so the failure is a real one the Resampler reports itself: it was
    /// finished before the stream began, and refuses audio until reset. The worker must say so and end the stream,
    /// not drop the audio in silence.
    @Test func aResamplerThatFailsIsReportedAndEndsTheStream() throws {
        let model = try Gemma4AudioModel.load(path: Fixtures.model())
        let resampler = try Resampler(inputRate: 44_100, outputRate: 16_000)
        var nothing: [Float] = []
        try resampler.finish(into: &nothing)
        let worker = StreamWorker(model: model, blockTokens: 12, resampler: resampler, maxGapFill: 0)
        let sink = RecordingSink()
        let workspace = model.makeWorkspace(blockTokens: 12, streams: 1, threads: 1)
        let piece = [Float](repeating: 0.25, count: 4_410)   // 100 ms at 44.1 kHz: 1600 samples at 16 kHz
        worker.consume([.audio(piece, firstSample: nil, wall: 0), .audio(piece, firstSample: nil, wall: 0), .finish],
                       workspace: workspace, vadScratch: SileroVADScratch(), sink: sink)

        #expect(sink.events.map(\.0) == [.discontinuity])
        #expect(sink.events.map(\.1) == [0])
        #expect(sink.events.map(\.2) == [1_600])
        #expect(sink.messages == ["resampling failed: Resampler.process: the resampler was finished; call reset() "
                                  + "before feeding it again; the stream ends here"])
        #expect(worker.isFinished)
        #expect(worker.reportEndIfDrained(to: sink))
        #expect(sink.endedCount == 0)
        #expect(sink.tokens.isEmpty)
    }
}
