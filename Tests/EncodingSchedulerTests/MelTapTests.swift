@testable import EncodingScheduler
import Frontend
import Gemma4Audio
import Synchronization
import Testing
import VoiceActivity

/// The log-mel tap the live view's spectrogram reads (issue #23).
@Suite struct MelTapTests {
    /// A watcher sees every frame the encoder's frontend computes, exactly the frontend's frames of the whole clip,
    /// placed on the stream's timeline; after `stop` it sees nothing more.
    @Test func watchersSeeTheFrontendsFramesOnTheStreamTimeline() throws {
        let samples = try Fixtures.samples("speech")
        let worker = StreamWorker(model: Fixtures.tiny, blockTokens: 12, resampler: nil, maxGapFill: 0)
        let seen = Mutex<(chunks: [(start: Int64, frames: Int)], values: [Float])>(([], []))
        #expect(!worker.melTap.isWatched)
        let ended = Atomic(0)
        let id = worker.melTap.watch({ first, frames in
            seen.withLock { s in
                s.chunks.append((first, frames.count / 128))
                s.values += frames
            }
        }, ended: { ended.add(1, ordering: .relaxed) })
        #expect(worker.melTap.isWatched)
        let workspace = Fixtures.tiny.makeWorkspace(blockTokens: 12, streams: 1, threads: 1)
        let origin: Int64 = 32_000   // the stream's audio starts 2 s into its timeline
        var items: [ScheduledStream.InboxItem] = []
        var at = 0
        for size in [100, 1_000, 7, 3_333, 16_000] + Array(repeating: 1_600, count: 20) where at < samples.count {
            let end = min(samples.count, at + size)
            items.append(.audio(Array(samples[at..<end]), firstSample: origin + Int64(at), wall: 0))
            at = end
        }
        worker.consume(items[...], workspace: workspace, vadScratch: SileroVADScratch(), sink: RecordingSink())

        let whole = LogMelFrontend.logMel(of: samples)
        let (chunks, values) = seen.withLock { ($0.chunks, $0.values) }
        #expect(values == whole, "the tap's frames are the frontend's, bit for bit")
        #expect(values.count / 128 == 299)
        // Each delivery starts where the frames before it end, 160 samples a frame, from the stream's origin.
        var framesBefore = 0
        for chunk in chunks {
            #expect(chunk.start == origin + Int64(160 * framesBefore))
            framesBefore += chunk.frames
        }
        #expect(chunks.count > 5)

        worker.melTap.stop(id)
        #expect(!worker.melTap.isWatched)
        worker.consume([.audio([Float](repeating: 0.1, count: 3_200), firstSample: origin + Int64(samples.count),
                               wall: 0)], workspace: workspace, vadScratch: SileroVADScratch(), sink: RecordingSink())
        #expect(seen.withLock { $0.values.count } == whole.count, "a stopped watcher sees nothing more")
        #expect(ended.load(ordering: .relaxed) == 0)
    }

    /// The stream's end is told once, to the watchers then, and at once to a watcher that comes later.
    @Test func watchersHearTheEndOnce() throws {
        let worker = StreamWorker(model: Fixtures.tiny, blockTokens: 12, resampler: nil, maxGapFill: 0)
        let ends = Atomic(0)
        _ = worker.melTap.watch({ _, _ in }, ended: { ends.add(1, ordering: .relaxed) })
        let workspace = Fixtures.tiny.makeWorkspace(blockTokens: 12, streams: 1, threads: 1)
        let sink = RecordingSink()
        worker.consume([.audio([Float](repeating: 0.1, count: 1_600), firstSample: 0, wall: 0), .finish],
                       workspace: workspace, vadScratch: SileroVADScratch(), sink: sink)
        Fixtures.tiny.drain(worker.encoder, workspace: workspace) { _ in }
        worker.emitOutput(to: sink)
        #expect(worker.reportEndIfDrained(to: sink))
        #expect(ends.load(ordering: .relaxed) == 1)
        #expect(!worker.melTap.isWatched)
        _ = worker.melTap.watch({ _, _ in }, ended: { ends.add(1, ordering: .relaxed) })
        #expect(ends.load(ordering: .relaxed) == 2)
        #expect(!worker.melTap.isWatched)
    }
}
