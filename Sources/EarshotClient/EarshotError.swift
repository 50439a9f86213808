import WireProtocol

/// Why a call on an ``EarshotConnection`` failed.
public struct EarshotError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kind of failure, for callers that branch on it.
    public enum Kind: Sendable, Equatable {
        /// The socket could not be opened (no daemon, no permission, no such path).
        case connectionFailed
        /// The server refused the connection or the handshake (version, too many clients, not allowed).
        case handshakeFailed
        /// The server answered a request with an error; the connection stays open unless ``EarshotError/isFatal``.
        case requestFailed
        /// The server sent bytes that break the protocol.
        case protocolViolation
        /// The connection is closed (by the server, or the client).
        case closed
        /// An argument the client library can reject without asking the server.
        case invalidArgument
    }

    /// The kind of failure.
    public let kind: Kind
    /// The server's error code name (docs/protocol.md, "Errors"), e.g. "unknown-stream", when the server sent one.
    public let serverCode: String?
    /// True when the server closes the connection after this error.
    public let isFatal: Bool
    private let message: String

    init(_ kind: Kind, _ message: String, serverCode: String? = nil, fatal: Bool = false) {
        self.kind = kind
        self.message = message
        self.serverCode = serverCode
        self.isFatal = fatal
    }

    init(server e: ErrorMessage, kind: Kind = .requestFailed) {
        self.init(kind, e.message, serverCode: e.code.name, fatal: e.fatal)
    }

    /// One line, e.g. "server error unknown-stream: no live stream named 'line'".
    public var description: String {
        if let serverCode { return "server error \(serverCode): \(message)" }
        return message
    }
}
