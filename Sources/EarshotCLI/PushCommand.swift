import ArgumentParser
import AudioCore
import AudioFiles
import EarshotClient
import EarshotGRPC
import Foundation
import VoiceActivity

/// `earshot push`: encode an audio file through a running earshotd; in f32 the same bits as `earshot encode`
/// (products compute each row alone, so thread counts and batching do not change the result).
public struct PushCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Encode an audio file through a running earshotd (in f32, the same .npy as earshot encode).",
        discussion: """
            Decodes the file (any format earshot encode reads; --input - reads standard input) and sends its \
            samples as they are (any rate and channel count); the daemon downmixes, resamples to 16 kHz with \
            libsamplerate's best sinc and encodes, exactly as `earshot encode` does offline.
            With --events, the daemon's voice activity on the same stream is written as `earshot vad` prints it: \
            one {"start": N} or {"end": N} line per event, N a 16 kHz sample index (equal to `earshot vad` on the \
            same file, plus an end at the last sample if the file ends inside speech).
            With --grpc HOST:PORT the push goes over the daemon's gRPC service instead (docs/grpc.md; TLS with \
            --tls or --tls-ca, mutual TLS with --tls-cert and --tls-key, a bearer token with --token-file), with the \
            same output.
            """)

    @Option(help: "The daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock).")
    var socket: String?

    @Option(help: "The audio file to encode (WAV, FLAC, Ogg Vorbis, Opus, MP3, AIFF, …; - for standard input).")
    var input: String

    @Option(help: "Where to write the .npy result.")
    var output: String

    @Option(help: "What to write: embeddings (D wide) or encoder (P wide).")
    var stage: EmbeddingKind = .embeddings

    @Option(help: "Also write the stream's speech events here, as JSON lines in the format of earshot vad.")
    var events: String?

    @Option(help: ArgumentHelp("Push over gRPC to HOST:PORT instead of the socket (earshotd --grpc-address).",
                               valueName: "HOST:PORT"))
    var grpc: String?

    @Flag(help: "gRPC: use TLS, trusting the system's CAs (implied by --tls-ca, --tls-cert, --tls-key).")
    var tls = false

    @Option(help: ArgumentHelp("gRPC TLS: trust this PEM CA for the daemon's certificate.", valueName: "FILE"))
    var tlsCa: String?

    @Option(help: ArgumentHelp("gRPC mutual TLS: this client's PEM certificate.", valueName: "FILE"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("gRPC mutual TLS: this client's PEM private key.", valueName: "FILE"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("gRPC: a file holding the daemon's bearer token.", valueName: "FILE"))
    var tokenFile: String?

    public init() {}

    public func validate() throws {
        if grpc == nil, tls || tlsCa != nil || tlsCert != nil || tlsKey != nil || tokenFile != nil {
            throw ValidationError("--tls, --tls-ca, --tls-cert, --tls-key and --token-file go with --grpc")
        }
        if grpc != nil, socket != nil { throw ValidationError("--socket and --grpc exclude each other") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// The gRPC client's settings from the options.
    func grpcOptions(_ address: String) throws -> GRPCClientOptions {
        var options = try GRPCClientOptions(address: address)
        options.tls = tls
        options.caPath = tlsCa
        options.certificatePath = tlsCert
        options.keyPath = tlsKey
        options.bearerToken = try tokenFile.map { try BearerTokenInterceptor.readToken(file: $0) }
        return options
    }

    public func run() async throws {
        let result: Result
        do {
            if let grpc {
                result = try await PushCommand.runOverGRPC(try grpcOptions(grpc), input: input, stage: stage,
                                                            speech: events != nil)
            } else {
                result = try await PushCommand.run(socket: socket, input: input, stage: stage, speech: events != nil)
            }
        } catch {
            printError("earshot push: \(error)")
            throw ExitCode.failure
        }
        try CommandLineErrors.reporting {
            try NPY.write(result.tokens, path: output)
            if let events {
                let lines = result.events.map { $0.json + "\n" }.joined()
                do {
                    try lines.write(toFile: events, atomically: true, encoding: .utf8)
                } catch {
                    throw AudioFileError(path: events, "cannot write the events (\((error as NSError).localizedDescription))")
                }
            }
        }
    }

    /// What a push brings back.
    public struct Result: Sendable {
        /// Every token, `[tokens, width]`.
        public var tokens: FloatArray
        /// The speech events, in order (empty unless asked for).
        public var events: [SpeechEvent]
    }

    /// The work behind `earshot push`, callable from tests: every token of `input`, as `earshot encode` returns it.
    public static func encode(socket: String?, input: String, stage: EmbeddingKind = .embeddings) async throws
        -> FloatArray {
        try await run(socket: socket, input: input, stage: stage, speech: false).tokens
    }

    /// Every token of `input` and, with `speech`, the daemon's speech events on the pushed stream. The file is
    /// pushed as it is read, a piece at a time.
    public static func run(socket: String?, input: String, stage: EmbeddingKind = .embeddings, speech: Bool)
        async throws -> Result {
        try await run(socket: socket, input: input, stage: stage, speech: speech, timeline: nil)
    }

    /// ``run(socket:input:stage:speech:)``, telling `timeline` when audio goes out and tokens come in.
    static func run(socket: String?, input: String, stage: EmbeddingKind, speech: Bool, timeline: PushTimeline?)
        async throws -> Result {
        let file = try AudioFileReader(path: input)
        let info = file.info
        let label = input == "-" ? "stdin" : (input as NSString).lastPathComponent
        return try await EarshotConnection.withConnection(to: socket, clientName: "earshot push") { connection in
            let stream = try await connection.startPush(format: .f32le, sampleRate: info.sampleRate,
                                                        channels: info.channels, kind: stage, label: label,
                                                        speech: speech ? .events : .none)
            let width = connection.server.width(of: stage)
            return try await withThrowingTaskGroup(of: Result?.self) { group in
                // Push and read at once: the daemon applies backpressure to pushes until frames are read.
                group.addTask {
                    let frames = Mono16kReader.pieceFrames(channels: info.channels)
                    while case let piece = try file.read(maxFrames: frames), !piece.isEmpty {
                        try await connection.push(piece, to: stream)
                        timeline?.sent(frames: piece.count / info.channels)
                    }
                    try await connection.endPush(stream)
                    return nil
                }
                group.addTask {
                    var values: [Float] = []
                    var tokens = 0
                    var events: [SpeechEvent] = []
                    for try await message in connection.messages {
                        switch message {
                        case .embedding(let frame) where frame.stream == stream.id:
                            guard frame.token == tokens else {
                                throw EarshotError.unexpected("token \(frame.token) arrived where \(tokens) was due")
                            }
                            values += frame.values
                            timeline?.received(token: tokens)
                            tokens += 1
                        case .event(let event) where event.stream == stream.id && event.kind == .speechStart:
                            events.append(.start(Int(event.at)))
                        case .event(let event) where event.stream == stream.id && event.kind == .speechEnd:
                            events.append(.end(Int(event.at)))
                        case .event(let event) where event.stream == stream.id && event.kind == .ended:
                            return Result(tokens: FloatArray(shape: [tokens, width], values: values), events: events)
                        case .error(let error):
                            throw error
                        default:
                            break
                        }
                    }
                    throw EarshotError.unexpected("the connection closed before the stream ended")
                }
                var result: Result?
                for try await value in group { if let value { result = value } }
                return result!
            }
        }
    }
}

extension EarshotError {
    /// An error of the command itself, shaped like the library's.
    static func unexpected(_ message: String) -> any Error { CommandError(message) }
}

/// A one-line command failure.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
