import AudioCore
import Foundation
import GRPCCore
import ClientSessions
import EarshotTypes

// Conversions between the generated messages and the session layer's values: one place that knows both numberings.

extension PayloadType {
    package init(_ proto: Earshot_V1_Payload) throws(RPCError) {
        switch proto {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        case .UNRECOGNIZED(let n): throw RPCError(code: .invalidArgument, message: "unknown payload \(n)")
        }
    }

    package var proto: Earshot_V1_Payload {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

extension OutputKind {
    package init(_ proto: Earshot_V1_Output) throws(RPCError) {
        switch proto {
        case .embeddings: self = .embeddings
        case .encoder: self = .encoder
        case .UNRECOGNIZED(let n): throw RPCError(code: .invalidArgument, message: "unknown output \(n)")
        }
    }

    package var proto: Earshot_V1_Output { self == .embeddings ? .embeddings : .encoder }
}

extension PCMSampleFormat {
    package init(_ proto: Earshot_V1_PCMFormat) throws(RPCError) {
        switch proto {
        case .s16Le: self = .s16le
        case .s32Le: self = .s32le
        case .f32Le: self = .f32le
        case .unspecified: throw RPCError(code: .invalidArgument, message: "start.format is not set")
        case .UNRECOGNIZED(let n): throw RPCError(code: .invalidArgument, message: "unknown format \(n)")
        }
    }
}

extension StartPoint {
    package init(_ proto: Earshot_V1_StartPoint) throws(RPCError) {
        switch proto {
        case .startNow: self = .now
        case .startOldest: self = .oldest
        case .UNRECOGNIZED(let n): throw RPCError(code: .invalidArgument, message: "unknown start \(n)")
        }
    }
}

extension StreamOptions {
    package init(speechEvents: Bool, speechOnly: Bool) {
        self = []
        if speechEvents { insert(.speechEvents) }
        if speechOnly { insert(.speechOnly) }
    }
}

extension EventKind {
    package var proto: Earshot_V1_EventKind {
        switch self {
        case .overrun: .overrun
        case .deviceLost: .deviceLost
        case .deviceRestored: .deviceRestored
        case .lagged: .lagged
        case .discontinuity: .discontinuity
        case .ended: .ended
        case .speechStart: .speechStart
        case .speechEnd: .speechEnd
        }
    }

    /// The socket's kind for a gRPC one; nil for unspecified or unknown.
    package init?(_ proto: Earshot_V1_EventKind) {
        guard let kind = EventKind(rawValue: UInt8(clamping: proto.rawValue)), proto.rawValue > 0 else { return nil }
        self = kind
    }
}

extension SessionRefusal {
    /// The gRPC status for this refusal (the table in proto/earshot/v1/earshot.proto).
    package var rpcError: RPCError {
        let code: RPCError.Code = switch reason {
        case .unknownStream: .notFound
        case .tooManyClients, .tooManySubscriptions, .tooManyPushes: .resourceExhausted
        case .voiceActivityOff: .failedPrecondition
        case .unsupportedPayload, .badAudioFormat: .invalidArgument
        case .shuttingDown: .unavailable
        case .internalError: .internalError
        }
        return RPCError(code: code, message: message)
    }
}

extension Earshot_V1_Token {
    /// The token as the caller receives it: values encoded here, on the writer's task.
    package init(_ token: SessionToken, payload: PayloadType, output: OutputKind) {
        self.init()
        let info = token.info
        index = info.index
        firstSample = info.firstSample
        captureTimeNs = info.captureTimeNanoseconds
        flags = UInt32(info.flags.rawValue)
        self.payload = payload.proto
        self.output = output.proto
        width = UInt32(token.width(of: output))
        values = Data(token.encoded(output, as: payload))
    }
}

extension Earshot_V1_Event {
    package init(_ event: EventInfo) {
        self.init()
        kind = event.kind.proto
        at = event.at
        count = event.count
        message = event.message
    }
}

extension PushRequest {
    /// A `start` message's fields; the session layer checks their ranges.
    package init(_ start: Earshot_V1_PushStart) throws(RPCError) {
        self.init(format: try PCMSampleFormat(start.format), sampleRate: Int(clamping: start.sampleRate),
                  channels: Int(clamping: start.channels), payload: try PayloadType(start.payload),
                  output: try OutputKind(start.output), label: start.label,
                  options: StreamOptions(speechEvents: start.speechEvents, speechOnly: start.speechOnly))
    }
}

extension SubscribeRequest {
    package init(_ request: Earshot_V1_SubscribeRequest) throws(RPCError) {
        guard !request.stream.isEmpty else { throw RPCError(code: .invalidArgument, message: "stream is not set") }
        self.init(stream: request.stream, start: try StartPoint(request.start), payload: try PayloadType(request.payload),
                  output: try OutputKind(request.output),
                  options: StreamOptions(speechEvents: request.speechEvents, speechOnly: request.speechOnly))
    }
}
