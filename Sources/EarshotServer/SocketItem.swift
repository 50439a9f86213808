import ClientSessions
import EarshotTypes
import WireProtocol

/// What a connection's writer sends, in order, from the connection's ``Outbox``.
enum SocketItem: OutboxItem {
    /// A token of subscription or pushed stream `stream`: live (refused when the queue is full; the hub then skips
    /// the subscription and later tells it `lagged`) or pushed (never dropped; its credit is released once written).
    case token(stream: UInt32, SessionToken, payload: PayloadType, output: OutputKind)
    /// Anything else: answers, events, errors. Never dropped.
    case message(ServerMessage)

    var isLive: Bool {
        if case .token(_, let token, _, _) = self { token.credit == nil } else { false }
    }

    var lostTokens: UInt64 {
        if case .message(.event(let event)) = self, event.kind == .lagged { event.count } else { 0 }
    }

    var credit: (any TokenCredit)? {
        if case .token(_, let token, _, _) = self { token.credit } else { nil }
    }

    /// Deliveries of subscription or pushed stream `stream` onto `outbox`, in the payload and output it asked for.
    static func receiver(_ outbox: Outbox<SocketItem>, stream: UInt32, payload: PayloadType,
                         output: OutputKind) -> OutboxReceiver<SocketItem> {
        OutboxReceiver(outbox: outbox,
                       live: { .token(stream: stream, $0, payload: payload, output: output) },
                       pushed: { .token(stream: stream, $0, payload: payload, output: output) },
                       event: { .message(.event(StreamEvent(stream: stream, $0))) })
    }
}

extension SessionToken {
    /// The whole `embedding` frame for this token.
    func frame(stream: UInt32, payload: PayloadType, output: OutputKind) -> [UInt8] {
        let info = self.info
        let header = EmbeddingHeader(stream: stream, token: info.index, firstSample: info.firstSample,
                                     captureTimeNanoseconds: info.captureTimeNanoseconds, flags: info.flags,
                                     payload: payload, output: output)
        return withValues(output) { Embedding.encode(header, values: $0) }
    }
}

extension StreamEvent {
    init(stream: UInt32, _ event: EventInfo) {
        self.init(stream: stream, kind: event.kind, at: event.at, count: event.count, message: event.message)
    }
}

extension ErrorCode {
    /// The socket's code for a session's refusal.
    init(_ reason: SessionRefusal.Reason) {
        self = switch reason {
        case .unknownStream: .unknownStream
        case .tooManyClients: .tooManyClients
        case .tooManySubscriptions: .tooManySubscriptions
        case .tooManyPushes: .tooManyPushedStreams
        case .voiceActivityOff: .voiceActivityOff
        case .unsupportedPayload: .unsupportedPayload
        case .badAudioFormat: .badAudioFormat
        case .shuttingDown: .shuttingDown
        case .internalError: .internalError
        }
    }
}
