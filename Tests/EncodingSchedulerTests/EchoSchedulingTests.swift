import AudioCore
import EchoAudio
import EarshotTypes
import Foundation
import Synchronization
import Testing
@testable import EncodingScheduler

/// Echo behind the same scheduler, engine and status as Gemma 4: a stream's tokens leave a whole window at a time,
/// equal bit for bit to `earshot encode`'s windows (``EchoWindowStream`` offline) and to the seed within the issue's
/// bar; the last partial window is padded and its rows past the audio are flagged `silence`.
@Suite(.serialized) struct EchoSchedulingTests {
    static let root = Fixtures.root + "/echo"
    /// The committed small Echo (mels 16, ctx 48, dims 32: a window is 7 680 samples, 0.48 s).
    static let model = try! EchoModel.load(path: root + "/base")
    let clock = VirtualClock()

    func scheduler(configure: (inout SchedulerConfiguration) -> Void = { _ in }) -> Scheduler {
        var c = SchedulerConfiguration()
        configure(&c)
        return Scheduler(model: Self.model, configuration: c, clock: clock)
    }

    /// The speech fixture (1.6 windows) and what `earshot encode` makes of it: every window's rows, the padded last
    /// one's too.
    static func speechAndOffline() throws -> (samples: [Float], rows: [Float]) {
        let samples = try WAV.read(path: root + "/speech/input.wav").samples
        let stream = EchoWindowStream(model: model)
        let scratch = EchoScratch(model: model)
        var rows: [Float] = []
        samples.withUnsafeBufferPointer { stream.accept($0, scratch: scratch, into: &rows) }
        stream.finish(scratch: scratch, into: &rows)
        return (samples, rows)
    }

    @Test func aLiveStreamGetsWholeWindowsEqualToOffline() throws {
        let (samples, offline) = try Self.speechAndOffline()
        let c = Self.model.configuration
        let (window, ctx, dims) = (c.frontend.windowSamples, c.context, c.width)
        let s = scheduler()
        let context = ComputeContext(for: s)
        let sink = RecordingSink()
        let stream = try s.addStream(name: "echo", kind: .live, sink: sink)
        // Everything but the first window's last sample: nothing can leave yet (Echo is not causal).
        var offset = 0
        for size in [1, 999, 4_000, window - 1 - 5_000] {
            stream.submitLive(Array(samples[offset..<offset + size]), firstSample: Int64(offset), wall: 0)
            offset += size
        }
        s.runUntilIdle(context)
        #expect(sink.state.withLock { $0.tokens.count } == 0)
        // Its last sample completes the window: its ctx rows leave at once.
        stream.submitLive([samples[offset]], firstSample: Int64(offset), wall: 0)
        offset += 1
        s.runUntilIdle(context)
        #expect(sink.state.withLock { $0.tokens.count } == ctx)
        // The rest, then the end: the partial second window, padded. Each chunk arrives when its last sample would.
        let wall = { (end: Int) in Int64(end) * 62_500 }
        while offset < samples.count {
            let end = min(samples.count, offset + 777)
            stream.submitLive(Array(samples[offset..<end]), firstSample: Int64(offset), wall: wall(end))
            offset = end
        }
        let lastWall = wall(samples.count)
        stream.finish()
        s.runUntilIdle(context)

        let state = sink.state.withLock { $0 }
        let windows = (samples.count + window - 1) / window
        #expect(state.ended == UInt64(windows * ctx))
        #expect(state.tokens.count == windows * ctx)
        #expect(state.tokens.flatMap(\.embedding) == offline, "the daemon's rows are earshot encode's, bit for bit")
        // The seed's own output (the committed fixture), within the bar.
        let seed = try NPY.read(path: Self.root + "/speech/base.fused.npy").values
        #expect(seed.count == offline.count)
        #expect(zip(offline, seed).map { abs($0 - $1) }.max()! <= 1e-4)
        // One token per 160-sample frame on the timeline; the last is `final`; rows past the audio are padding.
        for (i, token) in state.tokens.enumerated() {
            #expect(token.info.index == UInt64(i) && token.info.firstSample == Int64(160 * i))
            #expect(token.info.flags.contains(.final) == (i == windows * ctx - 1))
            if 160 * i >= samples.count {
                #expect(token.info.flags.contains(.silence), "row \(i) is padding")
                // Never captured: its time is the last sample's arrival, never later (latency is not negative).
                #expect(token.info.captureTimeNanoseconds == lastWall, "row \(i)'s capture time")
            }
        }
        #expect(dims == 32)
    }

    /// Pushed audio goes through the same windows, under the push budget (smaller than a window: the budget lets a
    /// piece in whenever nothing is queued, so a window always completes).
    @Test func aPushedStreamGetsTheSameWindows() async throws {
        let (samples, offline) = try Self.speechAndOffline()
        let s = scheduler { $0.pushBudgetSamples = 2_000; $0.pushPieceSamples = 1_000 }
        s.start()
        defer { s.stop() }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "push", kind: .pushed, inputRate: 16_000, sink: sink)
        var offset = 0
        while offset < samples.count {
            let end = min(samples.count, offset + 3_001)
            await stream.submitPushed(Array(samples[offset..<end]))
            offset = end
        }
        stream.finish()
        await sink.untilEnded()
        #expect(sink.state.withLock { $0.tokens }.flatMap(\.embedding) == offline)
    }

    /// A gap longer than the fill limit ends the segment: its partial window is padded and emitted at once, and the
    /// next segment's windows start where the audio resumes.
    @Test func aLongGapEndsTheWindowEarly() throws {
        let samples = try WAV.read(path: Self.root + "/speech/input.wav").samples
        let c = Self.model.configuration
        let first = Array(samples[0..<3_000]), second = Array(samples[3_000..<samples.count])
        let resumeAt: Int64 = 100_000
        let s = scheduler { $0.maxGapFillSamples = 1_000 }
        let context = ComputeContext(for: s)
        let sink = RecordingSink()
        let stream = try s.addStream(name: "gap", kind: .live, sink: sink)
        stream.submitLive(first, firstSample: 0, wall: 0)
        stream.submitLive(second, firstSample: resumeAt, wall: 0)
        stream.finish()
        s.runUntilIdle(context)

        func offline(_ part: [Float]) -> [Float] {
            let window = EchoWindowStream(model: Self.model)
            var rows: [Float] = []
            part.withUnsafeBufferPointer { window.accept($0, scratch: EchoScratch(model: Self.model), into: &rows) }
            window.finish(scratch: EchoScratch(model: Self.model), into: &rows)
            return rows
        }
        let tokens = sink.state.withLock { $0.tokens }
        let expected = offline(first) + offline(second)
        #expect(tokens.flatMap(\.embedding) == expected)
        let firstSegment = c.context   // 3 000 samples: one padded window
        #expect(tokens[firstSegment - 1].info.flags.contains(.final))
        #expect(tokens[firstSegment].info.firstSample == resumeAt)
        #expect(tokens[firstSegment].info.flags.contains(.discontinuity))
    }

    /// Voice activity runs on an Echo stream's samples as on Gemma 4's: silero-vad's own `VADIterator` events, and
    /// the `speech` flag on the 160-sample tokens that overlap a run.
    @Test func voiceActivityRunsAsForGemma4() throws {
        let (samples, events) = try VoiceActivitySchedulingTests.pauses()
        let s = scheduler {
            $0.liveBacklogSamples = 1 << 30
            $0.voiceActivity = VoiceActivityConfiguration(weights: VoiceActivitySchedulingTests.weights)
        }
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        stream.submitLive(samples, firstSample: 0, wall: 0)
        stream.finish()
        s.runUntilIdle(ComputeContext(for: s))
        let state = sink.state.withLock { $0 }
        let heard = state.events.filter { $0.0 == .speechStart || $0.0 == .speechEnd }.map { "\($0.0)@\($0.1)" }
        #expect(heard == events.map { "\($0.0)@\($0.1)" })
        var runs: [(Int64, Int64)] = []
        for (kind, at) in events {
            if kind == .speechStart { runs.append((at, .max)) } else { runs[runs.count - 1].1 = at }
        }
        let expected = state.tokens.map { t in
            runs.contains { $0.0 < t.info.firstSample + 160 && $0.1 > t.info.firstSample }
        }
        #expect(state.tokens.map { $0.info.flags.contains(.speech) } == expected)
        #expect(expected.contains(true) && expected.contains(false))
    }

    /// The spectrogram tap shows each encoded window's log-mel (the frames the encoder read), a window at a time,
    /// placed at the window's first sample; a waveform-only model shows none.
    @Test func theTapShowsEachWindowsLogMel() throws {
        let samples = try WAV.read(path: Self.root + "/speech/input.wav").samples
        let c = Self.model.configuration
        let (window, bins) = (c.frontend.windowSamples, c.melBins)
        let s = scheduler()
        let sink = RecordingSink()
        let stream = try s.addStream(name: "mic", kind: .live, sink: sink)
        let seen = Mutex<[(start: Int64, frames: [Float])]>([])
        _ = stream.melTap.watch({ start, frames in seen.withLock { $0.append((start, Array(frames))) } }, ended: {})
        let origin: Int64 = 16_000
        stream.submitLive(samples, firstSample: origin, wall: 0)
        stream.finish()
        s.runUntilIdle(ComputeContext(for: s))

        var expected: [(Int64, [Float])] = []
        var scratch = [Float](repeating: 0, count: Self.model.frontend.scratchCount)
        for start in stride(from: 0, to: samples.count, by: window) {
            var frames = [Float](repeating: 0, count: c.context * bins)
            samples[start..<min(samples.count, start + window)].withUnsafeBufferPointer { piece in
                frames.withUnsafeMutableBufferPointer { out in
                    scratch.withUnsafeMutableBufferPointer {
                        Self.model.frontend.logMel(piece, into: out.baseAddress!, scratch: $0.baseAddress!)
                    }
                }
            }
            expected.append((origin + Int64(start), frames))
        }
        let shown = seen.withLock { $0 }
        #expect(shown.map(\.start) == expected.map(\.0))
        #expect(shown.map(\.frames) == expected.map(\.1), "the tap's frames are the windows' log-mel, bit for bit")
        #expect(Self.model.facts.melBins == 16)
    }

    /// What an unwatched stream holds stays within one window (its samples and its log-mel), however long it runs:
    /// a window's frames kept for the spectrogram tap are dropped after the pass whether or not anyone watches.
    @Test func anUnwatchedStreamHoldsOneWindowAtMost() throws {
        let c = Self.model.configuration
        let s = scheduler()
        let context = ComputeContext(for: s)
        let stream = try s.addStream(name: "long", kind: .live, sink: RecordingSink())
        let piece = (0..<3_001).map { Float(sin(Double($0) * 0.01)) * 0.1 }
        var position: Int64 = 0, peak = 0
        for _ in 0..<(20 * c.frontend.windowSamples / piece.count) {
            stream.submitLive(piece, firstSample: position, wall: 0)
            position += Int64(piece.count)
            s.runUntilIdle(context)
            peak = max(peak, stream.worker.encoder.heldFloatCount)
        }
        #expect(stream.worker.tokensProduced >= UInt64(19 * c.context))
        #expect(peak <= c.frontend.windowSamples + c.context * c.melBins, "peak \(peak) floats")
    }

    /// Status names the family and its geometry.
    @Test func statusNamesTheFamily() {
        let engine = Engine(model: Self.model, modelID: "echo-small", scheduler: SchedulerConfiguration(),
                            historyTokens: 100, clock: clock)
        let status = engine.status(.init(serverName: "test", socketPath: "/tmp/s"), protocolVersion: 1)
        #expect(status.model == .init(id: "echo-small", family: "echo", D: 32, P: 32, blockTokens: 48, layers: 2,
                                      samplesPerToken: 160))
    }
}
