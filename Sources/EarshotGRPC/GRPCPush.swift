import AudioCore
import EarshotTypes
import Foundation

/// The client side of the Push call (`earshot push --grpc`, `earshot load --grpc`): audio goes out as f32le pieces
/// at its own rate and channel count while the responses are read (the daemon stops reading audio when the caller
/// does not read), and every token in f32 comes back, with the speech events if asked.
package enum GRPCPush {
    /// The stream to start: its audio's rate and channels, the output wanted, a label, and whether speech events
    /// should come back.
    package struct Start: Sendable {
        package var sampleRate: Int
        package var channels: Int
        package var output: OutputKind
        package var label: String
        package var speechEvents: Bool

        package init(sampleRate: Int, channels: Int, output: OutputKind, label: String, speechEvents: Bool) {
            self.sampleRate = sampleRate
            self.channels = channels
            self.output = output
            self.label = label
            self.speechEvents = speechEvents
        }
    }

    /// What a push brings back.
    package struct Result: Sendable {
        /// Every token, `[tokens, width]`.
        package var tokens: FloatArray
        /// `.speechStart` and `.speechEnd` events at their sample index (16 kHz), in order; empty unless asked for.
        package var speechEvents: [(kind: EventKind, at: Int)]
    }

    /// Pushes the interleaved pieces `nextPiece` returns until it returns an empty one, and returns every token and
    /// speech event. `sent` hears of each piece's frames as it goes out, `received` of each token's index as it
    /// arrives.
    package static func run(_ options: GRPCClientOptions, _ start: Start,
                            nextPiece: @escaping @Sendable () throws -> [Float],
                            sent: @escaping @Sendable (_ frames: Int) -> Void = { _ in },
                            received: @escaping @Sendable (_ token: Int) -> Void = { _ in }) async throws -> Result {
        try await withEarshotClient(options) { earshot, _ in
            try await earshot.push(requestProducer: { writer in
                try await writer.write(.with {
                    $0.start = .with {
                        $0.format = .f32Le
                        $0.sampleRate = UInt32(start.sampleRate)
                        $0.channels = UInt32(start.channels)
                        $0.payload = .f32
                        $0.output = start.output.proto
                        $0.label = start.label
                        $0.speechEvents = start.speechEvents
                    }
                })
                while case let piece = try nextPiece(), !piece.isEmpty {
                    let bytes = piece.withUnsafeBufferPointer { PayloadType.f32.encoded($0) }   // f32le
                    try await writer.write(.with { $0.audio = Data(bytes) })
                    sent(piece.count / start.channels)
                }
                // Returning half-closes the request stream: the end of the audio.
            }, onResponse: { response in
                var values: [Float] = []
                var tokens = 0
                var width = 0
                var events: [(kind: EventKind, at: Int)] = []
                for try await message in response.messages {
                    switch message.response {
                    case .started(let started):
                        width = Int(started.width)
                    case .token(let token):
                        guard token.index == UInt64(tokens) else {
                            throw GRPCPushError("token \(token.index) arrived where \(tokens) was due")
                        }
                        guard token.payload == .f32, Int(token.width) == width, token.values.count == 4 * width else {
                            throw GRPCPushError("token \(token.index) is not \(width) f32 values")
                        }
                        values += PayloadType.f32.decode([UInt8](token.values)[...], count: width)
                        received(tokens)
                        tokens += 1
                    case .event(let event):
                        switch event.kind {
                        case .speechStart: events.append((.speechStart, Int(event.at)))
                        case .speechEnd: events.append((.speechEnd, Int(event.at)))
                        case .ended:
                            return Result(tokens: FloatArray(shape: [tokens, width], values: values),
                                          speechEvents: events)
                        default: break
                        }
                    case nil:
                        break
                    }
                }
                throw GRPCPushError("the call ended before the stream did")
            })
        }
    }
}

/// A Push call's responses that break the protocol (a token out of order or of the wrong width, no end).
package struct GRPCPushError: Error, Sendable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
