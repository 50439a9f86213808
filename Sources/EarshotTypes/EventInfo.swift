/// One event of a stream, as every transport reports it (the socket's `event` frame adds the stream's id).
public struct EventInfo: Sendable, Equatable {
    public var kind: EventKind
    /// A sample on the stream's 16 kHz timeline, or a token index for `lagged` (see ``EventKind``).
    public var at: Int64
    public var count: UInt64
    public var message: String

    public init(_ kind: EventKind, at: Int64 = 0, count: UInt64 = 0, message: String = "") {
        self.kind = kind
        self.at = at
        self.count = count
        self.message = message
    }
}
