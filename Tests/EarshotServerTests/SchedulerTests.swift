import AudioCore
import Foundation
import Resampling
import Synchronization
import Gemma4Audio
import Testing
@testable import EarshotServer
import WireProtocol

/// The scheduler against the fixture model: whatever the batching, chunking or thread count, every stream's tokens
/// equal the offline encoder's; live gaps and overruns are handled; pushed streams get backpressure, not drops.
@Suite(.serialized) struct SchedulerTests {
    let model = Fixtures.tiny

    func scheduler(threads: Int = 1, block: Int = 12, productThreads: Int = 1,
                   configure: (inout SchedulerConfiguration) -> Void = { _ in }) -> Scheduler {
        var c = SchedulerConfiguration()
        c.computeThreads = threads
        c.productThreads = productThreads
        c.blockTokens = block
        configure(&c)
        return Scheduler(model: model, configuration: c)
    }

    /// Feeds `samples` as live audio in `chunk`-sample pieces at their timeline positions.
    func feedLive(_ stream: ScheduledStream, _ samples: [Float], chunk: Int, from start: Int64 = 0) {
        var offset = 0
        while offset < samples.count {
            let end = min(samples.count, offset + chunk)
            stream.submitLive(Array(samples[offset..<end]), firstSample: start + Int64(offset), wall: 0)
            offset = end
        }
    }

    @Test(arguments: [(1, 12, 320, 1), (2, 12, 997, 1), (1, 1, 640, 2), (2, 5, 16000, 2), (1, 12, 333, 3)])
    func batchedStreamsEqualOffline(threads: Int, block: Int, chunk: Int, productThreads: Int) async throws {
        let cases = ["speech", "odd-length", "silence", "short"]
        let s = scheduler(threads: threads, block: block, productThreads: productThreads)
        s.start()
        defer { s.stop() }
        var sinks: [RecordingSink] = []
        var streams: [ScheduledStream] = []
        for name in cases {
            let sink = RecordingSink()
            sinks.append(sink)
            streams.append(try s.addStream(name: name, kind: .live, sink: sink))
        }
        // Interleave the streams' chunks so passes batch several streams at different positions.
        let audio = try cases.map { try Fixtures.samples($0) }
        var offsets = [Int](repeating: 0, count: cases.count)
        while zip(offsets, audio).contains(where: { $0 < $1.count }) {
            for i in cases.indices where offsets[i] < audio[i].count {
                let end = min(audio[i].count, offsets[i] + chunk)
                streams[i].submitLive(Array(audio[i][offsets[i]..<end]), firstSample: Int64(offsets[i]), wall: 0)
                offsets[i] = end
            }
        }
        for stream in streams { stream.finish() }
        #expect(await eventually { sinks.allSatisfy { $0.endedCount != nil } })
        for (i, name) in cases.enumerated() {
            let offline = model.encode(audio[i])
            let got = sinks[i].tokens
            #expect(got.count == offline.count, "\(name)")
            #expect(sinks[i].endedCount == UInt64(offline.count))
            #expect(got.map(\.info.index) == (0..<UInt64(offline.count)).map { $0 })
            #expect(got.map(\.info.firstSample) == (0..<Int64(offline.count)).map { $0 * 640 })
            let worst = worstDifference(got.flatMap(\.embedding), offline.embeddings)
            #expect(worst == 0, "\(name): worst |streamed − offline| = \(worst)")   // bit for bit
            #expect(got.last?.info.flags.contains(.final) == true)
            #expect(got.dropLast().allSatisfy { !$0.info.flags.contains(.final) })
        }
        #expect(s.statistics.tokensEncoded == audio.map { model.encode($0).count }.reduce(0, +))
    }

    @Test func shortGapsAreFilledWithZerosAndFlagged() async throws {
        let s = scheduler(block: 4)
        s.start()
        defer { s.stop() }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let audio = try Fixtures.samples("speech")
        feedLive(stream, Array(audio[0..<8000]), chunk: 400)
        feedLive(stream, Array(audio[12000...]), chunk: 400, from: 12000)   // 4 000 samples lost
        stream.finish()
        #expect(await eventually { sink.endedCount != nil })
        var filled = audio
        for k in 8000..<12000 { filled[k] = 0 }
        let offline = model.encode(filled)
        let got = sink.tokens
        #expect(got.count == offline.count)
        #expect(worstDifference(got.flatMap(\.embedding), offline.embeddings) <= 1e-5)
        #expect(got[12].info.flags.contains(.discontinuity))          // 7 680 … 8 319 holds the gap's start
        #expect(got[12...18].allSatisfy { $0.info.flags.contains(.gapFilled) })
        #expect(got[13].info.flags.contains(.silence))
        #expect(!got[19].info.flags.contains(.gapFilled))
    }

    @Test func longGapsStartANewSegment() async throws {
        let s = scheduler(block: 12) { $0.maxGapFillSamples = 1000 }
        s.start()
        defer { s.stop() }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let audio = try Fixtures.samples("speech")
        let first = Array(audio[0..<16000]), second = Array(audio[16000...])
        feedLive(stream, first, chunk: 320)
        feedLive(stream, second, chunk: 320, from: 500_000)
        stream.finish()
        #expect(await eventually { sink.endedCount != nil })
        let a = model.encode(first), b = model.encode(second)
        let got = sink.tokens
        #expect(got.count == a.count + b.count)
        #expect(got.map(\.info.index) == (0..<UInt64(a.count + b.count)).map { $0 })
        #expect(got[a.count - 1].info.flags.contains(.final))
        #expect(got[a.count].info.flags.contains(.discontinuity))
        #expect(got[a.count].info.firstSample == 500_000)
        #expect(worstDifference(got.prefix(a.count).flatMap(\.embedding), a.embeddings) <= 1e-5)
        #expect(worstDifference(got.dropFirst(a.count).flatMap(\.embedding), b.embeddings) <= 1e-5)
    }

    @Test func liveBacklogDropsTheOldestAudioAsAnOverrun() async throws {
        // No compute threads yet: audio piles up past the backlog, the oldest goes.
        let s = scheduler(block: 12) { $0.liveBacklogSamples = 16_000 }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let audio = try Fixtures.samples("speech")
        feedLive(stream, audio, chunk: 1600)     // 48 000 samples, 16 000 may wait
        #expect(stream.overrunSamples == 32_000)
        s.start()
        defer { s.stop() }
        stream.finish()
        #expect(await eventually { sink.endedCount != nil })
        #expect(sink.events.count == 1)
        #expect(sink.events.first?.0 == .overrun)
        #expect(sink.events.first?.1 == 0 && sink.events.first?.2 == 32_000)
        // The stream starts where the kept audio starts: sample 32 000, 25 tokens.
        #expect(sink.tokens.first?.info.firstSample == 32_000)
        let offline = model.encode(Array(audio[32_000...]))
        #expect(worstDifference(sink.tokens.flatMap(\.embedding), offline.embeddings) <= 1e-5)
    }

    @Test func pushedAudioWaitsForBudgetAndIsNeverDropped() async throws {
        let s = scheduler(block: 12) { $0.pushBudgetSamples = 3200 }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "push", kind: .pushed, sink: sink)
        let audio = try Fixtures.samples("speech")
        // Compute is not running. 2 000 samples fit the 3 200-sample budget: the first submit returns.
        await stream.submitPushed(Array(audio[0..<2000]))
        // The second brings the outstanding work to 4 000 > 3 200: its producer waits (the connection would stop
        // reading its socket here) until the compute threads take the audio.
        let parked = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await stream.submitPushed(Array(audio[2000...]))
                parked.set(false)
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(parked.value)
            s.start()
            try await group.waitForAll()
        }
        defer { s.stop() }
        #expect(!parked.value)
        stream.finish()
        #expect(await eventually { sink.endedCount != nil })
        let offline = model.encode(audio)
        #expect(sink.tokens.count == offline.count)
        #expect(worstDifference(sink.tokens.flatMap(\.embedding), offline.embeddings) <= 1e-5)
    }

    /// A pushed stream that ended and whose frames were written leaves nothing behind: the scheduler forgets it,
    /// and the stream, its encoder and its sink are freed while the connection's outbox lives on.
    @Test func anEndedPushedStreamIsFreed() async throws {
        let s = scheduler()
        s.start()
        defer { s.stop() }
        let outbox = ClientOutbox(liveCapacity: 16, hardLimit: 1024)
        weak var freedStream: ScheduledStream?
        weak var freedSink: PushedStreamSink?
        weak var freedEncoder: EncoderStream?
        let ended = Flag()
        let audio = Array(try Fixtures.samples("speech")[0..<24_000])
        do {
            let sink = PushedStreamSink(outbox: outbox, stream: 1, payload: .f32, output: .embeddings) { _ in
                ended.set(false)
            }
            let stream = try s.addStream(name: "push", kind: .pushed, inputRate: 16_000, sink: sink)
            sink.attach(stream)
            freedStream = stream
            freedSink = sink
            freedEncoder = stream.worker.encoder
            await stream.submitPushed(audio)
            stream.finish()
        }
        // The connection's writer: writes every frame (giving the push budget back) until the stream's `ended`.
        var tokens = 0
        writing: while let item = await outbox.next() {
            switch item {
            case .pushed(_, _, _, _, let credit):
                credit.tokenSent()
                tokens += 1
            case .message(.event(let event)) where event.kind == .ended:
                break writing
            default:
                break
            }
        }
        #expect(tokens == model.encode(audio).count)
        #expect(!ended.value)
        #expect(await eventually { s.activeStreams.isEmpty }, "the scheduler still holds the ended stream")
        #expect(freedStream == nil, "the ended stream is still alive")
        #expect(freedSink == nil, "the ended stream's sink is still alive")
        #expect(freedEncoder == nil, "the ended stream's encoder is still alive")
        #expect(!outbox.isClosed)
    }

    @Test func pushedStreamsAtAnotherRateMatchOfflineResampling() async throws {
        let s = scheduler()
        s.start()
        defer { s.stop() }
        let sink = RecordingSink()
        // stereo44k: the daemon receives the file's own samples and downmixes + resamples like `earshot encode`.
        let (info, interleaved) = try AudioCore.WAV.read(path: Fixtures.wav("stereo44k"))
        var mono: [Float] = []
        interleaved.withUnsafeBufferPointer { Resampling.Downmix.toMono($0, channels: info.channels, into: &mono) }
        let stream = try s.addStream(name: "push", kind: .pushed, inputRate: info.sampleRate, sink: sink)
        var offset = 0
        while offset < mono.count {
            let end = min(mono.count, offset + 1789)
            await stream.submitPushed(Array(mono[offset..<end]))
            offset = end
        }
        stream.finish()
        #expect(await eventually { sink.endedCount != nil })
        let offline = model.encode(try Resampling.Resampler.resample(mono, from: info.sampleRate, to: 16_000))
        #expect(sink.tokens.count == offline.count)
        #expect(worstDifference(sink.tokens.flatMap(\.embedding), offline.embeddings) <= 1e-5)
    }
}

/// A Bool shared with a child task.
final class Flag: Sendable {
    private let state = Mutex(true)
    var value: Bool { state.withLock { $0 } }
    func set(_ value: Bool) { state.withLock { $0 = value } }
}
