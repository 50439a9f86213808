import WireProtocol

/// When a connection has held its slot too long without using it, as a plain value: the reader reports what it is
/// doing, a watchdog asks ``expired(at:)``. Tested on its own, without sockets or clocks.
///
/// Policies, by name:
/// - **hello deadline**: a connection that has not completed its `hello` within `hello` of connecting is closed.
/// - **idle connection**: a connection that holds no subscription and no pushed stream, and has sent nothing for
///   `idle`, is closed.
/// - **stalled frame**: a connection that has sent part of a frame and then nothing more for `idle` is closed,
///   whatever it holds.
///
/// Time the reader spends acting on frames (a push waiting for the encoder's budget, above all) never counts: the
/// client cannot send while the server does not read.
struct ConnectionDeadlines {
    let hello: Duration
    let idle: Duration

    private let connectedAt: ContinuousClock.Instant
    private var helloDone = false
    /// Since when the reader has been waiting for bytes; nil while it acts on what it read.
    private var waitingSince: ContinuousClock.Instant?
    private var partialFrame = false
    private var subscriptions = 0

    init(hello: Duration, idle: Duration, connectedAt: ContinuousClock.Instant) {
        self.hello = hello
        self.idle = idle
        self.connectedAt = connectedAt
        waitingSince = connectedAt
    }

    /// Bytes arrived: the reader acts on them.
    mutating func readerBusy() {
        waitingSince = nil
    }

    /// The reader waits for more bytes from `now`. `partialFrame`: part of a frame is buffered; `subscriptions`:
    /// the live subscriptions the connection holds.
    mutating func readerWaiting(at now: ContinuousClock.Instant, partialFrame: Bool, subscriptions: Int) {
        waitingSince = now
        self.partialFrame = partialFrame
        self.subscriptions = subscriptions
    }

    /// The server answered `hello`.
    mutating func helloCompleted() {
        helloDone = true
    }

    /// The error to close the connection with, if a deadline has passed at `now`. `activePushes`: the connection's
    /// pushed streams that have not ended (a stream still flushing after `pushEnd` counts).
    func expired(at now: ContinuousClock.Instant, activePushes: Int) -> ProtocolError? {
        if !helloDone {
            guard now - connectedAt >= hello else { return nil }
            return ProtocolError(.timedOut, "no hello within \(Self.seconds(hello)) s of connecting")
        }
        guard let waitingSince, now - waitingSince >= idle else { return nil }
        if partialFrame {
            return ProtocolError(.timedOut, "a frame was left unfinished for \(Self.seconds(idle)) s")
        }
        guard subscriptions == 0, activePushes == 0 else { return nil }
        return ProtocolError(.timedOut, "idle for \(Self.seconds(idle)) s with no subscription or pushed stream")
    }

    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let value = Double(seconds) + Double(attoseconds) * 1e-18
        return value == value.rounded() ? String(Int(value)) : String(value)
    }
}
