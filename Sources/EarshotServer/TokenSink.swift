import WireProtocol

/// Where a scheduled stream's results go: a live stream's ``StreamHub``, or the connection that pushed the audio.
/// Called on a compute thread: implementations must return quickly and never wait on I/O.
protocol TokenSink: AnyObject, Sendable {
    /// Tokens of one pass, in order.
    func deliver(_ block: EncodedBlock)
    /// A stream-level event (`overrun`, `deviceLost`, `deviceRestored`, `discontinuity`, `speechStart`,
    /// `speechEnd`), in order with the tokens. Speech events go only to receivers that asked for them.
    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String)
    /// The stream is over: `totalTokens` were produced; nothing follows.
    func ended(totalTokens: UInt64)
}
