import AudioCapture
import AudioCore
import EarshotCLI
import EarshotClient
import EncodingScheduler
import Foundation
import Gemma4Audio
import Logging
import LoopbackTestSupport
import QueuePolicies
import ServiceLifecycleTestKit
import Synchronization
import Testing
@testable import EarshotDaemon
#if canImport(Glibc)
import Glibc
#endif

/// Issue #18, parts 5–6: a pipe loses nothing, live losses are warned about at a readable rate, and what can be
/// checked without the model fails before it loads.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct InputDeliveryTests {
    // MARK: No silent loss

    /// `sox … | earshotd --source stdin:s16le:22050:1`, written as fast as the pipe takes it: a subscriber from
    /// `oldest` gets every token, equal bit for bit to `earshot encode` of the same audio, and nothing is lost.
    @Test func aFastPipeIntoStdinLosesNothing() async throws {
        let scratch = ScratchDirectory()
        let rate = 22_050, seconds = 20
        let pcm = Self.testSignal(frames: rate * seconds, rate: rate)
        let wav = scratch.file("same.wav")
        try WAV.write(path: wav, samples: pcm.map { Float($0) / 32768 }, sampleRate: rate, channels: 1, format: .s16le)
        let fifo = scratch.file("stdin.fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        // The writer opens its end first (earshotd's open of the FIFO as standard input waits for it), then writes
        // everything as fast as the pipe takes it.
        let bytes = pcm.withUnsafeBytes { Array($0) }
        let written = Mutex(0)
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            guard fd >= 0 else { return }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if n <= 0 { break }
                offset += n
            }
            close(fd)
            written.withLock { $0 = offset }
        }
        writer.start()
        // A 50 ms live backlog: the reader outruns the encoder all the time, and must wait every time.
        let daemon = try Daemon(source: "stdin:s16le:\(rate):1", config: "live-backlog-seconds = 0.05\n",
                                extra: ["--no-vad"], stdin: fifo)
        let socket = daemon.socket
        let (frames, status) = try await withTimeout(90, "the piped stream") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                let subscription = try await connection.subscribe(to: "mic", from: .oldest)
                let frames = try await DaemonIntegrationTests.collect(connection, subscription)
                return (frames, try await connection.statusReport())
            }
        }
        #expect(written.withLock { $0 } == bytes.count)
        let encoded = try Encoding.run(modelPath: Paths.model(), inputPath: wav, stage: .embeddings, streaming: nil)
        let tokens = encoded.shape[0]
        #expect(tokens == seconds * 25)
        #expect(frames.map(\.token) == Array(0..<tokens))
        let worst = worstDifference(frames.flatMap(\.values), encoded.values)
        #expect(worst == 0, "worst |live − earshot encode| = \(worst)")
        let mic = try #require(status.streams.first { $0.name == "mic" })
        #expect(mic.overrunSamples == 0 && mic.captureLostSamples == 0)
        #expect(status.totals.overrunSamples == 0 && status.totals.captureLostSamples == 0)
        #expect(daemon.log.contains("delivery=backpressure"), "\(daemon.log)")
        #expect(!daemon.log.contains("live audio lost"))
        #expect(daemon.terminate()?.code == 0)
    }

    /// `file:CLIP?loop`: a 0.45 s clip at 22.05 kHz, played three times and more in real time, is one stream: the
    /// tokens count on from 0 with no gap marker or event at the seams, and equal, bit for bit, `earshot encode` of
    /// the clip written out three times (tokens 0…31: their audio ends before the end-of-file flush of that file).
    @Test func aLoopedFileIsOneStreamAcrossTheSeams() async throws {
        let scratch = ScratchDirectory()
        let rate = 22_050
        let clip = Self.testSignal(frames: rate * 45 / 100, rate: rate).map { Float($0) / 32768 }
        try WAV.write(path: scratch.file("clip.wav"), samples: clip, sampleRate: rate, channels: 1, format: .s16le)
        try WAV.write(path: scratch.file("thrice.wav"), samples: clip + clip + clip, sampleRate: rate, channels: 1,
                      format: .s16le)
        let daemon = try Daemon(source: "file:\(scratch.file("clip.wav"))?loop", extra: ["--no-vad"])
        let socket = daemon.socket
        let wanted = 32
        let (frames, kinds) = try await withTimeout(60, "the looped stream") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                let subscription = try await connection.subscribe(to: "mic", from: .oldest)
                var frames: [EmbeddingFrame] = []
                var kinds: [String] = []
                for try await message in connection.messages {
                    switch message {
                    case .embedding(let frame) where frame.stream == subscription.id:
                        frames.append(frame)
                    case .event(let event) where event.stream == subscription.id:
                        kinds.append("\(event.kind)")
                    default:
                        break
                    }
                    if frames.count >= wanted { break }
                }
                return (frames, kinds)
            }
        }
        #expect(kinds.isEmpty, "no event at the seams: \(kinds)")
        #expect(frames.map(\.token) == Array(0..<wanted))
        #expect(frames.map(\.firstSample) == (0..<wanted).map { $0 * 640 })
        #expect(frames.allSatisfy { $0.flags.isDisjoint(with: [.discontinuity, .gapFilled, .final]) })
        let encoded = try Encoding.run(modelPath: Paths.model(), inputPath: scratch.file("thrice.wav"),
                                       stage: .embeddings, streaming: nil)
        let width = encoded.values.count / encoded.shape[0]
        #expect(encoded.shape[0] >= wanted)
        let worst = worstDifference(frames.flatMap(\.values), Array(encoded.values.prefix(wanted * width)))
        #expect(worst == 0, "worst |looped − earshot encode of three copies| = \(worst)")
        #expect(daemon.log.contains("delivery=real-time"), "\(daemon.log)")
        #expect(daemon.terminate()?.code == 0)
    }

    /// A deterministic 16-bit signal: a swept tone over pseudo-random noise, never full scale.
    static func testSignal(frames: Int, rate: Int) -> [Int16] {
        var state: UInt64 = 0x5EED
        return (0..<frames).map { n in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let noise = Double(Int64(bitPattern: state) >> 40) / Double(1 << 23)
            let t = Double(n) / Double(rate)
            let tone = sin(2 * .pi * (200 + 40 * t) * t)
            return Int16(((0.4 * tone + 0.1 * noise) * 32767).rounded())
        }
    }

    // MARK: Warnings about lost live audio

    /// At most one line per interval: the first loss is told at once, later ones are summed and told when the
    /// interval has passed (on the next loss or check), and whatever waits is told when the stream stops.
    @Test func lossWarningsAreRateLimitedAndSummed() {
        let clock = VirtualClock()
        var warnings = LossWarnings(interval: .seconds(10))
        #expect(warnings.note(lost: 0, reason: .encoderBehind, now: clock.monotonicNanoseconds()) == nil)
        let first = warnings.note(lost: 8_000, reason: .encoderBehind, now: clock.monotonicNanoseconds())
        #expect(first == .init(samples: [.encoderBehind: 8_000]))
        #expect(first?.fields.map { "\($0)=\($1)" } == ["seconds=0.500", "encoder_behind=0.500"])
        for _ in 0..<9 {   // nine more losses within the interval: no line
            clock.advance(by: .seconds(1))
            #expect(warnings.note(lost: 16_000, reason: .encoderBehind, now: clock.monotonicNanoseconds()) == nil)
        }
        #expect(warnings.note(lost: 320, reason: .capture, now: clock.monotonicNanoseconds()) == nil)
        clock.advance(by: .milliseconds(999))
        #expect(warnings.due(now: clock.monotonicNanoseconds()) == nil)
        clock.advance(by: .milliseconds(1))   // 10 s after the first line
        let second = warnings.due(now: clock.monotonicNanoseconds())
        #expect(second == .init(samples: [.encoderBehind: 144_000, .capture: 320]))
        #expect(second?.fields.map { "\($0)=\($1)" } == ["seconds=9.020", "capture=0.020", "encoder_behind=9.000"])
        #expect(warnings.due(now: clock.monotonicNanoseconds()) == nil)
        clock.advance(by: .seconds(3))
        #expect(warnings.note(lost: 160, reason: .device, now: clock.monotonicNanoseconds()) == nil)
        #expect(warnings.flush() == .init(samples: [.device: 160]))
        #expect(warnings.flush() == nil)
    }

    /// A live source whose encoder falls behind: capture events go in, the backlog overflows (no compute thread
    /// runs), and the log gets warnings at the limited rate, with the seconds lost, besides the stream's counters.
    @Test func aRealTimeSourceThatLosesAudioIsWarnedAbout() async throws {
        let clock = VirtualClock()
        var scheduling = SchedulerConfiguration()
        scheduling.liveBacklogSamples = 16_000
        let engine = Engine(model: DaemonIntegrationTests.model, modelID: "tiny", scheduler: scheduling,
                            historyTokens: 0, clock: clock)
        let stream = try engine.addLiveStream(name: "mic", source: "alsa:test")
        let (events, feed) = AsyncThrowingStream.makeStream(of: CaptureEvent.self)
        // 25 s of 20 ms chunks, 20 ms apart on the virtual clock; a capture drop at 12 s.
        let chunk = [Float](repeating: 0, count: 320)
        for k in 0..<1250 {
            feed.yield(.audio(AudioChunk(samples: chunk, firstSample: Int64(k * 320))))
            if k == 600 { feed.yield(.dropped(QueueDrop(chunks: 2, samples: 640, firstSample: Int64(k * 320)))) }
        }
        feed.finish()
        let log = KeptLogLines()
        let logger = Logger(label: "test") { _ in log }
        var service = LiveSourceService(events: CaptureEventsOnVirtualClock(events: events, clock: clock),
                                        stopCapture: {}, delivery: .realTime, stream: stream, clock: clock,
                                        logger: logger)
        service.finishTimeout = .zero   // no compute thread will end the stream
        // The service, its source ended, waits for the daemon's stop: here the stop has come already (it stops a
        // capture that is a no-op, so every event fed is still handled).
        try await testGracefulShutdown { stop in
            stop.triggerGracefulShutdown()
            try await service.run()
        }
        let lines = log.lines.filter { $0.hasPrefix("warning live audio lost") }
        // Lines at 1.02 s (the first overrun: 50 chunks fill the backlog), 11.02 s, 21.02 s, and the rest at the end.
        #expect(lines.count == 4, "\(log.lines)")
        let seconds = lines.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("seconds=") }.flatMap { Double($0.dropFirst(8)) }
        }
        let lost = Double(stream.scheduled.overrunSamples + stream.captureLostSamples) / 16_000
        #expect(abs(seconds.reduce(0, +) - lost) < 0.003, "\(lines)")
        #expect(stream.captureLostSamples == 640)
        #expect(stream.scheduled.overrunSamples == 1250 * 320 - 16_000)
        #expect(lines.filter { $0.contains("capture=0.040") }.count == 1)
    }

    // MARK: Checks before the model loads

    /// Each fails with one line naming the problem, before the model loads: the log never says "model loaded"
    /// (`random:e2b` would take seconds to build).
    @Test(arguments: [
        (["--source", "file:/no/such.wav"], "source 'mic': /no/such.wav: cannot open: No such file"),
        (["--source", "room=file:/no/such.wav?loop"], "source 'room': /no/such.wav: cannot open"),
        (["--source", "file:/tmp?fast"], "/tmp: is a directory"),
        (["--source", "file:x.wav?lop"], "source 'mic': bad source spec 'file:x.wav?lop': unknown file: option 'lop'"),
        (["--source", "none", "--socket", "/no/such/dir/s.sock"], "directory '/no/such/dir' does not exist"),
        (["--source", "none", "--metrics-address", "127.0.0.1:PORT"],
         "--metrics-address 127.0.0.1:PORT: cannot listen: the address is already in use"),
        (["--source", "none", "--grpc-address", "127.0.0.1:PORT"],
         "--grpc-address 127.0.0.1:PORT: cannot listen: the address is already in use"),
        (["--source", "none", "--grpc-address", "127.0.0.1:0", "--grpc-health-address", "127.0.0.1:PORT"],
         "--grpc-health-address 127.0.0.1:PORT: cannot listen"),
        (["--source", "none", "--grpc-address", "127.0.0.1:FREE", "--metrics-address", "127.0.0.1:FREE"],
         "--metrics-address 127.0.0.1:FREE: --grpc-address already uses this address"),
        (["--source", "none", "--vad-model", "/no/such/vad.safetensors"],
         "cannot load the voice-activity weights: /no/such/vad.safetensors"),
    ])
    func startupChecksComeBeforeTheModel(arguments: [String], message: String) throws {
        let scratch = ScratchDirectory()
        // A port something listens on (held by this test), and one nobody does.
        let busy = try LoopbackTCP.listener()
        defer { close(busy.fd) }
        let port = String(busy.port), free = String(try LoopbackTCP.freePort())
        func fill(_ text: String) -> String {
            text.replacingOccurrences(of: "PORT", with: port).replacingOccurrences(of: "FREE", with: free)
        }
        var args = ["--model", "random:e2b", "--log-level", "debug"] + arguments.map(fill)
        if !args.contains("--socket") { args += ["--socket", scratch.file("s.sock")] }
        let process = try ChildProcess(Paths.executable("earshotd"), args, logPath: scratch.file("log"))
        let raw = process.wait(timeout: 60)
        #expect(raw.map(ChildProcess.exitCode) == 1)
        let log = process.log
        let lines = log.split(separator: "\n").filter { $0.hasPrefix("earshotd: ") }
        #expect(lines.count == 1, "\(log)")
        #expect(lines.first?.contains(fill(message)) == true, "\(log)")
        #expect(!log.contains("model loaded"), "\(log)")
        if let line = lines.first, arguments[1].contains("file:/no/such.wav") {
            #expect(line.components(separatedBy: "/no/such.wav").count == 2, "the path once: \(line)")
        }
    }

    /// `earshot encode` checks its output's directory and opens its input before the model loads: given a model
    /// that does not exist too, the one error is about the file.
    @Test(arguments: [
        ("OUT/none/x.npy", "IN", "OUT/none/x.npy: directory 'OUT/none' does not exist"),
        ("OUT", "IN", "OUT: is a directory"),
        ("OUT/x.npy", "OUT/missing.wav", "OUT/missing.wav: cannot open"),
    ])
    func encodeChecksItsFilesBeforeTheModel(output: String, input: String, message: String) throws {
        let scratch = ScratchDirectory()
        func fill(_ text: String) -> String {
            text.replacingOccurrences(of: "OUT", with: scratch.path).replacingOccurrences(of: "IN", with: Paths.wav("speech"))
        }
        let process = try ChildProcess(Paths.executable("earshot"),
                                       ["encode", "--model", "/no/such/model", "--input", fill(input),
                                        "--output", fill(output)], logPath: scratch.file("log"))
        let raw = process.wait(timeout: 60)
        #expect(raw.map(ChildProcess.exitCode) == 1)
        let lines = process.log.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("earshot: \(fill(message))"), "\(process.log)")
        #expect(!process.log.contains("/no/such/model"), "the model was tried first: \(process.log)")
        #expect(!FileManager.default.fileExists(atPath: fill(output)) || output == "OUT")
    }
}

/// Capture events with the virtual clock moving 20 ms per audio chunk, as a microphone's would.
struct CaptureEventsOnVirtualClock: AsyncSequence, Sendable {
    typealias Element = CaptureEvent
    let events: AsyncThrowingStream<CaptureEvent, any Error>
    let clock: VirtualClock

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<CaptureEvent, any Error>.AsyncIterator
        let clock: VirtualClock
        mutating func next() async throws -> CaptureEvent? {
            let event = try await base.next()
            if case .audio = event { clock.advance(by: .milliseconds(20)) }
            return event
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: events.makeAsyncIterator(), clock: clock) }
}

/// A log handler that keeps "level message key=value …" lines.
final class KeptLogLines: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        lock.withLock { kept.append(([event.level.rawValue, event.message.description] + fields).joined(separator: " ")) }
    }

    var lines: [String] { lock.withLock { kept } }
}
