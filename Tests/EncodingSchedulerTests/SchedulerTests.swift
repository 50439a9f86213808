import AudioCore
import Foundation
import Resampling
import Synchronization
import Gemma4Audio
import QueuePolicies
import Testing
@testable import EncodingScheduler
import EarshotTypes

/// The scheduler against the fixture model: whatever the batching, chunking or thread count, every stream's tokens
/// equal the offline encoder's; live gaps and overruns are handled; pushed streams get backpressure, not drops.
/// Turns run on the test's own thread (``Scheduler/runUntilIdle(_:)``) with a virtual clock, except where threads are
/// the point; nothing waits by sleeping.
@Suite(.serialized) struct SchedulerTests {
    let model = Fixtures.tiny
    let clock = VirtualClock()

    func scheduler(threads: Int = 1, block: Int = 12, productThreads: Int = 1,
                   configure: (inout SchedulerConfiguration) -> Void = { _ in }) -> Scheduler {
        var c = SchedulerConfiguration()
        c.computeThreads = threads
        c.productThreads = productThreads
        c.blockTokens = block
        configure(&c)
        return Scheduler(model: model, configuration: c, clock: clock)
    }

    /// Takes every turn there is, here.
    func runUntilIdle(_ s: Scheduler) {
        s.runUntilIdle(ComputeContext(for: s))
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
        for sink in sinks { await sink.untilEnded() }
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
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let audio = try Fixtures.samples("speech")
        feedLive(stream, Array(audio[0..<8000]), chunk: 400)
        feedLive(stream, Array(audio[12000...]), chunk: 400, from: 12000)   // 4 000 samples lost
        stream.finish()
        runUntilIdle(s)
        #expect(sink.endedCount != nil)
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
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let audio = try Fixtures.samples("speech")
        let first = Array(audio[0..<16000]), second = Array(audio[16000...])
        feedLive(stream, first, chunk: 320)
        feedLive(stream, second, chunk: 320, from: 500_000)
        stream.finish()
        runUntilIdle(s)
        #expect(sink.endedCount != nil)
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

    /// The same live stream under backpressure (standard input): the producer waits while the backlog is full,
    /// the backlog never exceeds its bound, nothing is dropped, and the tokens are the offline encoder's, bit for bit.
    @Test func backpressuredLiveAudioWaitsAndLosesNothing() async throws {
        let s = scheduler(block: 12) { $0.liveBacklogSamples = 16_000 }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let audio = try Fixtures.samples("speech")
        let producer = Task {
            for offset in stride(from: 0, to: audio.count, by: 1600) {
                let piece = Array(audio[offset..<min(audio.count, offset + 1600)])
                await stream.submitLiveWaiting(piece, firstSample: Int64(offset), wall: 0)
            }
            stream.finish()
        }
        // No turn has run: the producer fills the backlog exactly, then waits.
        while !stream.producerIsWaiting { await Task.yield() }
        #expect(stream.backlogSamples == 16_000)
        while sink.endedCount == nil {
            #expect(stream.backlogSamples <= 16_000)
            runUntilIdle(s)
            await Task.yield()
        }
        await producer.value
        #expect(stream.overrunSamples == 0)
        #expect(sink.events.isEmpty)
        #expect(sink.tokens.flatMap(\.embedding) == model.encode(audio).embeddings)
    }

    @Test func liveBacklogDropsTheOldestAudioAsAnOverrun() async throws {
        // No compute threads yet: audio piles up past the backlog, the oldest goes.
        let s = scheduler(block: 12) { $0.liveBacklogSamples = 16_000 }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let audio = try Fixtures.samples("speech")
        feedLive(stream, audio, chunk: 1600)     // 48 000 samples, 16 000 may wait
        #expect(stream.overrunSamples == 32_000)
        stream.finish()
        runUntilIdle(s)
        #expect(sink.endedCount != nil)
        #expect(sink.events.count == 1)
        #expect(sink.events.first?.0 == .overrun)
        #expect(sink.events.first?.1 == 0 && sink.events.first?.2 == 32_000)
        // The stream starts where the kept audio starts: sample 32 000, 25 tokens.
        #expect(sink.tokens.first?.info.firstSample == 32_000)
        let offline = model.encode(Array(audio[32_000...]))
        #expect(worstDifference(sink.tokens.flatMap(\.embedding), offline.embeddings) <= 1e-5)
    }

    /// Submits `samples` to a pushed stream from a task and takes turns here each time its producer waits for room,
    /// until all of it is in. Returns how often the producer waited (at least once if it ever did; the producer
    /// may also find room while a turn runs, so the count depends on timing: tests bound what it holds instead).
    func pushTakingTurns(_ s: Scheduler, _ stream: ScheduledStream, _ samples: [Float],
                         atEachWait check: () -> Void = {}) async -> Int {
        let pending = Flag()
        let producer = Task {
            await stream.submitPushed(samples)
            pending.set(false)
        }
        var waits = 0
        while true {
            while pending.value && !stream.producerIsWaiting { await Task.yield() }
            if !pending.value { break }
            waits += 1
            check()
            runUntilIdle(s)
        }
        await producer.value
        return waits
    }

    @Test func pushedAudioWaitsForBudgetAndIsNeverDropped() async throws {
        // A budget below one block (12 tokens, 7 680 samples): the producer waits at the budget, and is let in again
        // when the encoder has taken everything and waits for more audio to complete a block (never a deadlock).
        let s = scheduler(block: 12) { $0.pushBudgetSamples = 3200 }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "push", kind: .pushed, sink: sink)
        let audio = try Fixtures.samples("speech")
        // Compute is not running. 2 000 samples fit the 3 200-sample budget: the first submit returns.
        await stream.submitPushed(Array(audio[0..<2000]))
        #expect(!stream.producerIsWaiting && stream.pushedHeldSamples == 2000)
        // The rest enters a piece (4 000 samples) at a time, each once the stream holds less than the budget: the
        // producer waits (the connection would stop reading its socket here) until the compute side takes audio.
        let waits = await pushTakingTurns(s, stream, Array(audio[2000...])) {
            #expect(stream.backlogSamples <= 3200 - 1 + 4000)
        }
        #expect(waits >= 1)
        stream.finish()
        runUntilIdle(s)
        #expect(sink.endedCount != nil)
        let offline = model.encode(audio)
        #expect(sink.tokens.count == offline.count)
        #expect(worstDifference(sink.tokens.flatMap(\.embedding), offline.embeddings) <= 1e-5)
    }

    /// Issue #19: the push budget is in 16 kHz samples, whatever the chunk size or the rate. One chunk of a whole
    /// clip at 1 kHz (16 times more samples after resampling) used to enter at once; now it enters 250 input samples
    /// (4 000 at 16 kHz) at a time, and the stream never holds more than the budget plus one piece, with the tokens
    /// unchanged.
    @Test func pushedAudioIsBoundedInSamplesWhateverTheChunkOrRate() async throws {
        let budget = 16_000, piece = 4_000
        let s = scheduler(block: 12) {
            $0.pushBudgetSamples = budget
            $0.pushPieceSamples = piece
        }
        let sink = RecordingSink()
        let low = try Resampling.Resampler.resample(try Fixtures.samples("speech"), from: 16_000, to: 1_000)
        let stream = try s.addStream(name: "push", kind: .pushed, inputRate: 1_000, sink: sink)
        var firstWait: (backlog: Int, held: Int)?
        let waits = await pushTakingTurns(s, stream, low) {
            // Compute has not run yet at the first wait: four pieces of 250 input samples hold exactly the budget.
            if firstWait == nil { firstWait = (stream.backlogSamples, stream.pushedHeldSamples) }
            #expect(stream.pushedHeldSamples <= budget - 1 + piece)
        }
        #expect(firstWait?.backlog == 1_000 && firstWait?.held == 16_000)
        #expect(waits >= 1)
        #expect(s.peakPushedSamples >= budget && s.peakPushedSamples <= budget - 1 + piece)
        stream.finish()
        runUntilIdle(s)
        #expect(stream.pushedHeldSamples == 0)
        let offline = model.encode(try Resampling.Resampler.resample(low, from: 1_000, to: 16_000))
        #expect(sink.endedCount == UInt64(offline.count))
        #expect(worstDifference(sink.tokens.flatMap(\.embedding), offline.embeddings) <= 1e-5)
    }

    @Test func pushedStreamsAtAnotherRateMatchOfflineResampling() async throws {
        let s = scheduler() { $0.pushBudgetSamples = 1 << 30 }
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
        runUntilIdle(s)
        #expect(sink.endedCount != nil)
        let offline = model.encode(try Resampling.Resampler.resample(mono, from: info.sampleRate, to: 16_000))
        #expect(sink.tokens.count == offline.count)
        #expect(worstDifference(sink.tokens.flatMap(\.embedding), offline.embeddings) <= 1e-5)
    }

    /// A turn claims at most `maxBatchStreams` streams, round robin, so other compute threads get the rest and no
    /// stream is left behind; the tokens do not depend on how the streams were grouped.
    @Test func aTurnClaimsAtMostOneBatchOfStreams() throws {
        let s = scheduler(block: 4) { $0.maxBatchStreams = 2 }
        let audio = try Fixtures.samples("short")
        var sinks: [RecordingSink] = []
        for k in 0..<5 {
            let sink = RecordingSink()
            sinks.append(sink)
            let stream = try s.addStream(name: "s\(k)", kind: .live, sink: sink)
            stream.submitLive(audio, firstSample: 0, wall: 0)
            stream.finish()
        }
        let turns = s.runUntilIdle(ComputeContext(for: s))
        #expect(turns == 3)   // 2 + 2 + 1 streams
        let offline = model.encode(audio)
        for sink in sinks {
            #expect(sink.endedCount == UInt64(offline.count))
            #expect(sink.tokens.flatMap(\.embedding) == offline.embeddings)
        }
    }

    /// The health check reads the scheduler's clock: work that waits more than 10 s for a compute thread is
    /// unhealthy, and a turn that takes it makes the scheduler healthy again.
    @Test func workWaitingTooLongIsUnhealthy() throws {
        let s = scheduler()
        let stream = try s.addStream(name: "mic", kind: .live, sink: RecordingSink())
        #expect(s.isHealthy())
        stream.submitLive([Float](repeating: 0, count: 640), firstSample: 0, wall: 0)
        clock.advance(by: .seconds(10))
        #expect(s.isHealthy())
        clock.advance(by: .seconds(1))
        #expect(!s.isHealthy())
        runUntilIdle(s)
        #expect(s.isHealthy())
    }

    /// The real-time factor: compute time over audio time, both decayed with a 10 s time constant.
    @Test func realTimeFactorFollowsRecentLoad() {
        var stats = SchedulerStatistics()
        #expect(stats.realTimeFactor == 0)
        // 25 tokens (1 s of audio) took 0.5 s of compute.
        stats.record(busyNanoseconds: 500_000_000, tokens: 25, audioSamples: 16_000, passes: 3, at: 1_000_000_000)
        #expect(stats.realTimeFactor == 0.5)
        #expect(stats.passes == 3 && stats.tokensEncoded == 25)
        // 10 s later the first second weighs e⁻¹; another second of audio took 0.1 s.
        stats.record(busyNanoseconds: 100_000_000, tokens: 25, audioSamples: 16_000, passes: 1, at: 11_000_000_000)
        let decay = exp(-1.0)
        #expect(abs(stats.realTimeFactor - (0.5 * decay + 0.1) / (decay + 1)) < 1e-12)
        // Utilization: the decayed busy time over the decayed wall time since the start (0), per thread.
        let wall = 10 * (1 - exp(-1.1))
        #expect(abs(stats.utilization(now: 11_000_000_000, start: 0, threads: 1) - (0.5 * decay + 0.1) / wall) < 1e-12)
        #expect(abs(stats.utilization(now: 11_000_000_000, start: 0, threads: 2) - (0.5 * decay + 0.1) / wall / 2)
                < 1e-12)
        // Idle for 10 s more: the busy time decays, the window fills.
        let idle = stats.utilization(now: 21_000_000_000, start: 0, threads: 1)
        #expect(abs(idle - (0.5 * decay + 0.1) * decay / (10 * (1 - exp(-2.1)))) < 1e-12)
    }

    /// Status counts what the scheduler did, on the scheduler's clock.
    @Test func engineStatusIsTyped() async throws {
        var c = SchedulerConfiguration()
        c.blockTokens = 12
        let engine = Engine(model: model, modelID: "tiny", scheduler: c, historyTokens: 10, maxClients: 3,
                            clock: clock)
        let live = try engine.addLiveStream(name: "mic", source: "file:speech.wav")
        let audio = try Fixtures.samples("speech")
        #expect(await live.submit(audio, firstSample: 0, wallNanoseconds: clock.wallNanoseconds(),
                                  delivery: .realTime) == 0)
        live.report(.deviceLost, at: Int64(audio.count), message: "unplugged")
        let sink = RecordingSink()
        let push = try engine.startPush(label: "push 1.1", inputRate: 16_000, sink: sink)
        let id = try engine.clients.admit(transport: .socket, peer: "pid 1 uid 0 gid 0") {
            ClientRegistry.Activity(name: "test", subscriptions: 1, pushes: 1, queuedFrames: 2, droppedFrames: 5)
        }
        clock.advance(by: .seconds(3))
        engine.scheduler.runUntilIdle(ComputeContext(for: engine.scheduler))
        let status = engine.status(.init(serverName: "earshotd test", socketPath: "/tmp/s"), protocolVersion: 1)
        let tokens = model.encode(audio).count
        #expect(status.uptimeSeconds == 3)
        #expect(status.model == .init(id: "tiny", family: "gemma4", D: model.configuration.textHiddenSize,
                                      P: model.configuration.outputProjectionSize, blockTokens: 12,
                                      layers: model.configuration.layerCount, samplesPerToken: 640))
        #expect(status.streams.map(\.name) == ["mic", "push 1.1"])
        #expect(status.streams[0].state == .deviceLost && status.streams[0].deviceLosses == 1)
        #expect(status.streams[0].samples == Int64(audio.count))
        // Full blocks only: the stream has not finished, so the last partial block waits.
        #expect(status.streams[0].tokens == UInt64(tokens / 12 * 12))
        #expect(status.compute.tokensEncoded == tokens / 12 * 12)
        #expect(status.connections == [.init(id: id, transport: .socket, peer: "pid 1 uid 0 gid 0", name: "test",
                                             subscriptions: 1, pushes: 1, queuedFrames: 2, droppedFrames: 5)])
        #expect(status.clients == 1 && status.maxClients == 3)
        #expect(status.totals.pushes == 1 && status.totals.connections == 1 && status.totals.laggedFrames == 5)
        #expect(status.totals.deviceLosses == 1)
        engine.clients.left(id, droppedFrames: 5)
        for _ in 0..<3 { _ = try engine.clients.admit(transport: .grpc, peer: "x") { .init() } }
        #expect(throws: ClientRegistry.Refusal.tooManyClients(limit: 3)) {
            try engine.clients.admit(transport: .grpc, peer: "y") { .init() }
        }
        let later = engine.status(.init(serverName: "earshotd test", version: "0.3.0", revision: "1a2b3c4d",
                                        socketPath: "/tmp/s"), protocolVersion: 1)
        #expect(later.version == "0.3.0" && later.revision == "1a2b3c4d")
        #expect(later.totals.laggedFrames == 5 && later.totals.refusals == ["too-many-clients": 1])
        // The JSON keys are docs/protocol.md's.
        let json = String(decoding: try JSONEncoder().encode(later), as: UTF8.self)
        for key in ["\"version\"", "\"revision\"", "\"uptimeSeconds\"", "\"blockTokens\"", "\"overrunSamples\"",
                    "\"tokensEncoded\"", "\"maxClients\""] {
            #expect(json.contains(key))
        }
        #expect(try JSONDecoder().decode(DaemonStatus.self, from: Data(json.utf8)) == later)
        push.cancel()
    }
}

/// A Bool shared with a child task.
final class Flag: Sendable {
    private let state = Mutex(true)
    var value: Bool { state.withLock { $0 } }
    func set(_ value: Bool) { state.withLock { $0 = value } }
}
