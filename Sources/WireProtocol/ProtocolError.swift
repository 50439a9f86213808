/// Wire error codes: the `code` field of an `error` frame (docs/protocol.md, "Errors").
package enum ErrorCode: UInt16, Sendable, CaseIterable {
    /// A frame that does not parse: a length prefix of 0, or a body that is truncated, has extra bytes, a bad enum
    /// value, invalid UTF-8, or (in `hello`) an empty version range.
    case malformedFrame = 1
    /// A length prefix above the receiver's limit. (A zero length is `malformedFrame`.)
    case frameTooLarge = 2
    /// No protocol version both sides speak.
    case unsupportedVersion = 3
    /// The first frame was not `hello`, or `hello` came twice, or its magic is wrong.
    case handshakeRequired = 4
    /// A message type this side does not know, or one the other side may not send.
    case unexpectedMessage = 5
    /// No live stream has that name, or the stream id is not one of this connection's.
    case unknownStream = 6
    /// The server already serves its maximum number of clients.
    case tooManyClients = 7
    /// This connection already pushes the maximum number of streams.
    case tooManyPushedStreams = 8
    /// A payload type the server does not offer, or an output it does not have.
    case unsupportedPayload = 9
    /// A push format the server cannot take (sample format, rate or channel count), or audio that is not whole frames.
    case badAudioFormat = 10
    /// The peer's uid/gid is not on the server's allow-list.
    case notAllowed = 11
    /// The server is stopping.
    case shuttingDown = 12
    /// A failure inside the server.
    case internalError = 13
    /// This connection already holds the maximum number of subscriptions.
    case tooManySubscriptions = 14
    /// The client took too long: no `hello` in time, nothing sent while holding no stream, or a frame left
    /// unfinished.
    case timedOut = 15
    /// Speech options (`subscribe`/`pushStart` options byte) asked of a server whose voice activity is off.
    case voiceActivityOff = 16

    /// A short name, as in docs/protocol.md.
    package var name: String {
        switch self {
        case .malformedFrame: "malformed-frame"
        case .frameTooLarge: "frame-too-large"
        case .unsupportedVersion: "unsupported-version"
        case .handshakeRequired: "handshake-required"
        case .unexpectedMessage: "unexpected-message"
        case .unknownStream: "unknown-stream"
        case .tooManyClients: "too-many-clients"
        case .tooManyPushedStreams: "too-many-pushed-streams"
        case .unsupportedPayload: "unsupported-payload"
        case .badAudioFormat: "bad-audio-format"
        case .notAllowed: "not-allowed"
        case .shuttingDown: "shutting-down"
        case .internalError: "internal-error"
        case .tooManySubscriptions: "too-many-subscriptions"
        case .timedOut: "timed-out"
        case .voiceActivityOff: "voice-activity-off"
        }
    }
}

/// A protocol violation found while decoding, or one to report to the peer: a wire code and a readable message.
package struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    package let code: ErrorCode
    package let message: String

    package init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code.name): \(message)" }
}
