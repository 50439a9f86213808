import AudioCore
import AudioFiles
import EarshotClient
import EarshotGRPC
import Foundation
import VoiceActivity
import WireProtocol

/// `earshot push --grpc HOST:PORT`: the same push as over the socket, through the gRPC service
/// (proto/earshot/v1/earshot.proto), with the same result: every token in f32, and the speech events if asked.
package enum GRPCPush {
    /// Pushes `input` as f32le at its own rate and channel count, reading responses while it sends (the daemon
    /// stops reading audio when the caller does not read), and returns what ``PushCommand/Result`` holds.
    package static func run(_ options: GRPCClientOptions, input: String, stage: EmbeddingKind, speech: Bool,
                            timeline: PushTimeline? = nil) async throws -> PushCommand.Result {
        let file = try AudioFileReader(path: input)
        let info = file.info
        let label = input == "-" ? "stdin" : (input as NSString).lastPathComponent
        return try await withEarshotClient(options) { earshot, _ in
            try await earshot.push(requestProducer: { writer in
                try await writer.write(.with {
                    $0.start = .with {
                        $0.format = .f32Le
                        $0.sampleRate = UInt32(info.sampleRate)
                        $0.channels = UInt32(info.channels)
                        $0.payload = .f32
                        $0.output = stage == .embeddings ? .embeddings : .encoder
                        $0.label = label
                        $0.speechEvents = speech
                    }
                })
                let frames = Mono16kReader.pieceFrames(channels: info.channels)
                while case let piece = try file.read(maxFrames: frames), !piece.isEmpty {
                    var bytes = ByteWriter(capacity: piece.count * 4)
                    for sample in piece { bytes.f32(sample) }
                    try await writer.write(.with { $0.audio = Data(bytes.bytes) })
                    timeline?.sent(frames: piece.count / info.channels)
                }
                // Returning half-closes the request stream: the end of the audio.
            }, onResponse: { response in
                var values: [Float] = []
                var tokens = 0
                var width = 0
                var events: [SpeechEvent] = []
                for try await message in response.messages {
                    switch message.response {
                    case .started(let started):
                        width = Int(started.width)
                    case .token(let token):
                        guard token.index == UInt64(tokens) else {
                            throw CommandError("token \(token.index) arrived where \(tokens) was due")
                        }
                        guard token.payload == .f32, Int(token.width) == width, token.values.count == 4 * width else {
                            throw CommandError("token \(token.index) is not \(width) f32 values")
                        }
                        values += PayloadType.f32.decode([UInt8](token.values)[...], count: width)
                        timeline?.received(token: tokens)
                        tokens += 1
                    case .event(let event):
                        switch event.kind {
                        case .speechStart: events.append(.start(Int(event.at)))
                        case .speechEnd: events.append(.end(Int(event.at)))
                        case .ended:
                            return PushCommand.Result(tokens: FloatArray(shape: [tokens, width], values: values),
                                                      events: events)
                        default: break
                        }
                    case nil:
                        break
                    }
                }
                throw CommandError("the call ended before the stream did")
            })
        }
    }
}
