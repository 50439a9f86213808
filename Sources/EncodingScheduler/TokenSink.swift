import EarshotTypes

/// Where a scheduled stream's results go: a live stream's ``StreamHub``, or the transport of the client that pushed
/// the audio. Called on a compute thread: implementations must return quickly and never wait on I/O.
package protocol TokenSink: AnyObject, Sendable {
    /// Tokens of one pass, in order.
    func deliver(_ block: EncodedBlock)
    /// A stream-level event (`overrun`, `deviceLost`, `deviceRestored`, `discontinuity`, `speechStart`,
    /// `speechEnd`), in order with the tokens.
    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String)
    /// The stream is over: `totalTokens` were produced; nothing follows.
    func ended(totalTokens: UInt64)
}

/// One subscription to a live stream's ``StreamHub``: a transport's per-subscription queue. Called with the hub's lock
/// held, from compute threads and from `subscribe`: implementations queue and return, never wait.
package protocol StreamSubscriber: AnyObject, Sendable {
    /// Speech events and speech-only delivery; the hub filters by them.
    var options: StreamOptions { get }
    /// A token; `replayed` when it comes from the held history at subscription, not as it is encoded. Returns false
    /// if there is no room for it (the client reads too slowly): the token is not queued, the hub skips this
    /// subscriber from then on, and the transport calls ``StreamHub/resume(_:)`` once it has room again.
    func receive(_ token: TokenRecord, replayed: Bool) -> Bool
    /// An event, `ended` included (then nothing more arrives).
    func receive(_ kind: EventKind, at: Int64, count: UInt64, message: String)
}
