import AudioFiles
import EarshotClient
import EarshotGRPC
import Foundation
import VoiceActivity

extension PushCommand {
    /// `earshot push --grpc HOST:PORT`: the same push as over the socket, through the gRPC service
    /// (proto/earshot/v1/earshot.proto), with the same result. The file is pushed as it is read, a piece at a time.
    static func runOverGRPC(_ options: GRPCClientOptions, input: String, stage: EmbeddingKind, speech: Bool,
                            timeline: PushTimeline? = nil) async throws -> Result {
        let file = try AudioFileReader(path: input)
        let info = file.info
        let label = input == "-" ? "stdin" : (input as NSString).lastPathComponent
        let start = GRPCPush.Start(sampleRate: info.sampleRate, channels: info.channels,
                                   output: stage == .embeddings ? .embeddings : .encoder, label: label,
                                   speechEvents: speech)
        let frames = Mono16kReader.pieceFrames(channels: info.channels)
        let result = try await GRPCPush.run(options, start, nextPiece: { try file.read(maxFrames: frames) },
                                            sent: { timeline?.sent(frames: $0) },
                                            received: { timeline?.received(token: $0) })
        return Result(tokens: result.tokens, events: result.speechEvents.map { event in
            event.kind == .speechStart ? .start(event.at) : .end(event.at)
        })
    }
}
