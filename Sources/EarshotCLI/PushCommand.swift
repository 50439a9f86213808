import ArgumentParser
import AudioCore
import EarshotClient
import Foundation

/// `earshot push`: encode a WAV file through a running earshotd; in f32 the same bits as `earshot encode` (products
/// compute each row alone, so thread counts and batching do not change the result).
public struct PushCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Encode a WAV file through a running earshotd (in f32, the same .npy as earshot encode).",
        discussion: """
            Sends the file's samples as they are (any rate and channel count); the daemon downmixes, resamples to \
            16 kHz with libsamplerate's best sinc and encodes, exactly as `earshot encode` does offline.
            """)

    @Option(help: "The daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock).")
    var socket: String?

    @Option(help: "The WAV file to encode.")
    var input: String

    @Option(help: "Where to write the .npy result.")
    var output: String

    @Option(help: "What to write: embeddings (D wide) or encoder (P wide).")
    var stage: EmbeddingKind = .embeddings

    public init() {}

    public func run() async throws {
        let result: FloatArray
        do {
            result = try await PushCommand.encode(socket: socket, input: input, stage: stage)
        } catch {
            printError("earshot push: \(error)")
            throw ExitCode.failure
        }
        try CommandLineErrors.reporting { try NPY.write(result, path: output) }
    }

    /// The work behind `earshot push`, callable from tests: every token of `input`, as `earshot encode` returns it.
    /// The file is pushed as it is read, a piece at a time.
    public static func encode(socket: String?, input: String, stage: EmbeddingKind = .embeddings) async throws
        -> FloatArray {
        let info = try WAVReader(path: input).info
        guard info.frameCount > 0 else { throw AudioFileError(path: input, "no audio: the data chunk is empty") }
        let label = (input as NSString).lastPathComponent
        return try await EarshotConnection.withConnection(to: socket, clientName: "earshot push") { connection in
            let stream = try await connection.startPush(format: .f32le, sampleRate: info.sampleRate,
                                                        channels: info.channels, kind: stage, label: label)
            let width = connection.server.width(of: stage)
            return try await withThrowingTaskGroup(of: FloatArray?.self) { group in
                // Push and read at once: the daemon applies backpressure to pushes until frames are read.
                group.addTask {
                    let file = try WAVReader(path: input)
                    let frames = Mono16kReader.pieceFrames(channels: info.channels)
                    while case let piece = try file.read(maxFrames: frames), !piece.isEmpty {
                        try await connection.push(piece, to: stream)
                    }
                    try await connection.endPush(stream)
                    return nil
                }
                group.addTask {
                    var values: [Float] = []
                    var tokens = 0
                    for try await message in connection.messages {
                        switch message {
                        case .embedding(let frame) where frame.stream == stream.id:
                            guard frame.token == tokens else {
                                throw EarshotError.unexpected("token \(frame.token) arrived where \(tokens) was due")
                            }
                            values += frame.values
                            tokens += 1
                        case .event(let event) where event.stream == stream.id && event.kind == .ended:
                            return FloatArray(shape: [tokens, width], values: values)
                        case .error(let error):
                            throw error
                        default:
                            break
                        }
                    }
                    throw EarshotError.unexpected("the connection closed before the stream ended")
                }
                var result: FloatArray?
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
