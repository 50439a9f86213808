import ArgumentParser
import AudioCore
import EarshotClient
import EarshotTypes
import Foundation

/// `earshot listen`: subscribe to a live stream of a running earshotd and write each token as it comes.
public struct ListenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Print a live stream's embeddings as they arrive (from a running earshotd).",
        discussion: """
            Writes to standard output, flushed after every token:
              jsonl   one JSON object per token, keys token, firstSample, time (s), latencyMs, norm, flags, \
            values; and one per event, in arrival order, keys event, at, count, message: \
            {"event":"speechStart","at":N,"count":0,"message":""} (speechEnd, lagged, ended … alike). These are \
            docs/protocol.md's "Vocabulary", which earshot-client listen (clients/python) prints too.
              f32     each token's values as raw little-endian float32 (D or P per token), nothing else
              view    one readable line per token (index, audio time, latency, norm, speech or silence by the \
            daemon's voice activity, flags), and a line per speech start and end
            With --output OUT.npy the tokens are collected and written as [tokens, width] float32 when the stream \
            ends, after --count tokens, or on Ctrl-C. Events other than speech with view, and every event with f32 \
            or --output, go to standard error. --speech only keeps the tokens the daemon flags speech; \
            --speech off asks for no speech events (for a daemon older than voice activity). With the default \
            --speech all, a daemon running with --no-vad is followed without speech events (a note on standard error).
            (--from, the old name of --start, still works, with a notice on standard error.)
            """)

    public enum Format: String, ExpressibleByArgument, CaseIterable, Sendable { case jsonl, f32, view }
    public enum Start: String, ExpressibleByArgument, CaseIterable, Sendable { case now, oldest }
    public enum Speech: String, ExpressibleByArgument, CaseIterable, Sendable { case all, only, off }

    @Option(help: "The daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock).")
    var socket: String?

    @Option(help: "The live stream to follow.")
    var stream = "mic"

    @Option(help: "Standard output format: jsonl, f32 or view.")
    var format: Format = .jsonl

    @Option(help: "Collect the tokens into this .npy file instead of writing them to standard output.")
    var output: String?

    @Option(help: "Start with the next token (now, the default) or the oldest the daemon holds (oldest).")
    var start: Start?

    /// `--from`, the old name of `--start`.
    @Option(name: .customLong("from"), help: .hidden)
    var deprecatedFrom: Start?

    @Option(help: "What to receive: embeddings (D wide) or encoder (P wide).")
    var stage: EmbeddingKind = .embeddings

    @Option(help: "Wire format: f32, f16 or bf16 (values are printed as float either way).")
    var payload: PayloadFormat = .f32

    @Option(help: "Stop after this many tokens (0: until the stream ends or Ctrl-C).")
    var count = 0

    @Option(help: "all: every token and the speech events; only: speech tokens and the events; off: every token, no events.")
    var speech: Speech = .all

    public init() {}

    public func validate() throws {
        try DeprecatedOption.validate(start, old: deprecatedFrom, currentName: "--start", oldName: "--from")
    }

    public func run() async throws {
        let sink = try CommandLineErrors.reporting { try TokenSink(format: format, output: output) }
        let startChoice = DeprecatedOption.resolve(start, old: deprecatedFrom, currentName: "--start",
                                                   oldName: "--from", command: "earshot listen", fallback: .now)
        let stream = self.stream, stage = self.stage, payload = self.payload, count = self.count
        let delivery: SpeechDelivery = switch speech {
        case .all: .events
        case .only: .speechOnly
        case .off: .none
        }
        do {
            try await EarshotConnection.withConnection(to: socket, clientName: "earshot listen") { connection in
                let start: SubscriptionStart = startChoice == .now ? .now : .oldest
                let subscription: Subscription
                var voiceActivity = delivery != .none
                do {
                    subscription = try await connection.subscribe(to: stream, from: start, payload: payload,
                                                                  kind: stage, speech: delivery)
                } catch let error as EarshotError where error.serverCode == "voice-activity-off" && delivery == .events {
                    printError("earshot listen: the daemon runs without voice activity: no speech events")
                    subscription = try await connection.subscribe(to: stream, from: start, payload: payload, kind: stage)
                    voiceActivity = false
                }
                sink.begin(server: connection.server, subscription: subscription, voiceActivity: voiceActivity)
                try await untilInterrupted {
                    var received = 0
                    for try await message in connection.messages {
                        switch message {
                        case .embedding(let frame) where frame.stream == subscription.id:
                            sink.write(frame)
                            received += 1
                            if count > 0 && received >= count { return }
                        case .event(let event) where event.stream == subscription.id:
                            sink.write(event)
                            if event.kind == .ended { return }
                        case .error(let error):
                            printError("earshot listen: \(error)")
                        default:
                            break
                        }
                    }
                }
            }
        } catch {
            printError("earshot listen: \(error)")
            try? sink.end()
            throw ExitCode.failure
        }
        try CommandLineErrors.reporting { try sink.end() }
    }
}

extension EmbeddingKind: ExpressibleByArgument {}
extension PayloadFormat: ExpressibleByArgument {}

/// Runs `body` until it returns or SIGINT/SIGTERM arrives (then it is cancelled and this returns normally).
func untilInterrupted(_ body: @escaping @Sendable () async throws -> Void) async throws {
    let signals = AsyncStream<Int32> { continuation in
        let sources = SignalSources([SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        })
        continuation.onTermination = { _ in sources.cancel() }
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await body() }
        group.addTask {
            for await _ in signals { return }
        }
        defer { group.cancelAll() }
        try await group.next()
    }
}

/// Dispatch signal sources, cancelled together (Dispatch's types predate Sendable; cancel is thread-safe).
private final class SignalSources: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    init(_ sources: [any DispatchSourceSignal]) { self.sources = sources }
    func cancel() { for source in sources { source.cancel() } }
}

/// Where `earshot listen` puts tokens: standard output (flushed per token) or an .npy file at the end.
final class TokenSink: @unchecked Sendable {
    private let format: ListenCommand.Format
    private let output: String?
    private var rows: [Float] = []
    private var width = 0
    private var count = 0
    /// The daemon's voice activity is known to run (view's voice column; "-" otherwise).
    private var voiceActivity = false
    /// The model's (from `welcome`): 640 for Gemma 4.
    private var samplesPerToken = 640
    private let lock = NSLock()

    init(format: ListenCommand.Format, output: String?) throws {
        self.format = format
        self.output = output
    }

    func begin(server: ServerInfo, subscription: Subscription, voiceActivity: Bool) {
        width = server.width(of: subscription.kind)
        samplesPerToken = server.samplesPerToken
        self.voiceActivity = voiceActivity
        if format == .view && output == nil {
            emit("""
                earshot listen: \(server.serverName), model \(server.modelID), stream '\(subscription.name)', \
                \(subscription.kind.rawValue) D=\(width), \(server.blockTokens)-token blocks
                  token   audio time   latency      norm  voice    flags

                """)
        }
    }

    func write(_ frame: EmbeddingFrame) {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        if output != nil {
            rows += frame.values
            return
        }
        switch format {
        case .f32:
            frame.values.withUnsafeBytes { raw in writeAll(raw) }
        case .jsonl:
            var line = "{\"token\":\(frame.token),\"firstSample\":\(frame.firstSample),"
            line += "\"time\":\(String(format: "%.3f", frame.audioTime)),"
            line += "\"latencyMs\":\(String(format: "%.1f", latencyMilliseconds(frame))),"
            line += "\"norm\":\(String(format: "%.5g", norm(frame.values))),"
            line += "\"flags\":[\(flagNames(frame.flags).map { "\"\($0)\"" }.joined(separator: ","))],"
            line += "\"values\":[\(frame.values.map { "\($0)" }.joined(separator: ","))]}\n"
            emit(line)
        case .view:
            emit(String(format: "%7d  %9.2f s  %7.0f ms  %8.3f  ", frame.token, frame.audioTime,
                        latencyMilliseconds(frame), norm(frame.values))
                 + (!voiceActivity ? "-        " : frame.flags.contains(.speech) ? "speech   " : "silence  ")
                 + flagNames(frame.flags).joined(separator: " ") + "\n")
        }
    }

    /// An event: a JSON line in jsonl; in view a line of its own for a speech start or end; standard error otherwise.
    func write(_ event: EarshotEvent) {
        lock.lock()
        defer { lock.unlock() }
        let speech = event.kind == .speechStart || event.kind == .speechEnd
        switch (format, output) {
        case (.jsonl, nil):
            emit("{\"event\":\"\(event.kind.rawValue)\",\"at\":\(event.at),\"count\":\(event.count),"
                 + "\"message\":\(jsonString(event.message))}\n")
        case (.view, nil) where speech:
            emit(String(format: "         %9.2f s  speech %@ at sample %lld\n", Double(event.at) / 16_000,
                        event.kind == .speechStart ? "starts" : "ends", event.at))
        default:
            printError("earshot listen: \(event.kind.rawValue) at \(event.at)"
                       + (speech ? "" : ", count \(event.count)")
                       + (event.message.isEmpty ? "" : ": \(ClientText.escaped(event.message))"))
        }
    }

    func end() throws {
        guard let output else { return }
        lock.lock()
        defer { lock.unlock() }
        try NPY.write(FloatArray(shape: [count, width], values: rows), path: output)
        printError("earshot listen: wrote \(count) tokens to \(output)")
    }

    /// From the end of the token's audio (firstSample + samplesPerToken) to now.
    private func latencyMilliseconds(_ frame: EmbeddingFrame) -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let now = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        let tokenNanoseconds = Int64(samplesPerToken) * 1_000_000_000 / 16_000
        return Double(now - frame.captureTimeNanoseconds - tokenNanoseconds) / 1e6
    }

    private func norm(_ values: [Float]) -> Double {
        values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    private func flagNames(_ flags: EmbeddingFlags) -> [String] {
        var names: [String] = []
        if flags.contains(.discontinuity) { names.append("discontinuity") }
        if flags.contains(.silence) { names.append("silence") }
        if flags.contains(.final) { names.append("final") }
        if flags.contains(.gapFilled) { names.append("gapFilled") }
        if flags.contains(.speech) { names.append("speech") }
        return names
    }

    /// A JSON string literal; the daemon's text may hold any character (C1 controls escaped as well).
    private func jsonString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let quoted = (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        return ClientText.escapedJSON(quoted)
    }

    private func emit(_ text: String) {
        Array(text.utf8).withUnsafeBytes { writeAll($0) }
    }

    /// write(2) to standard output until everything is out (stdout is a pipe for captioning: no stdio buffering).
    private func writeAll(_ raw: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < raw.count {
            let n = Foundation.write(1, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }
}
