import EarshotTypes
import EncodingScheduler

/// What a transport needs from the daemon: the one seam between the transports (the Unix socket, gRPC) and the
/// engine. A transport is a framing adapter: it turns its requests into ``ClientSession`` calls and the session's
/// deliveries into its frames; admission, request checks, subscriptions, the life of a push, the send-queue policy
/// (``Outbox``) and the credit of pushed tokens are the session layer's, written once.
///
/// The daemon's engine conforms (``EngineSessions``); tests may conform a scripted host. Every method is called from
/// a client's task and returns promptly: work that takes time (encoding) happens on compute threads, and its results
/// come back through the ``StreamReceiver`` handed in.
package protocol SessionHost: Sendable {
    /// The model and what it offers, fixed for the host's life.
    var model: SessionModel { get }

    /// The status document of docs/protocol.md ("Status"): one JSON object.
    func statusJSON() -> String

    /// Admits one client (a socket connection, a gRPC call) through the daemon's one registry: at most
    /// `max-clients` are served at once, whatever their transport. `activity` is read for status; `limits` bound
    /// what the client may hold.
    ///
    /// - Throws: ``SessionRefusal`` `.tooManyClients` past the limit (counted under that name).
    func admit(_ client: ClientDescription, limits: SessionLimits,
               activity: @escaping @Sendable () -> ClientActivity) throws(SessionRefusal) -> any ClientSession

    /// The transport turned a client away or closed it itself (a peer not allowed, a protocol error, a timeout, a
    /// client that does not read, the daemon stopping): counted under `reason`, the protocol's error name, in status
    /// `totals.refusals` and `earshot_refusals_total`.
    func refused(reason: String)
}

/// Who a client is, for status and logs.
package struct ClientDescription: Sendable {
    package var transport: DaemonStatus.Transport
    /// The peer as the transport knows it (credentials, an address).
    package var peer: String

    package init(transport: DaemonStatus.Transport, peer: String) {
        self.transport = transport
        self.peer = peer
    }
}

/// What a transport reports of one client for status: its name (the socket's `hello`) and its send queue.
package struct ClientActivity: Sendable {
    package var name: String
    package var queuedFrames: Int
    /// Live tokens this client lost so far (told in `lagged` events).
    package var droppedFrames: UInt64

    package init(name: String = "", queuedFrames: Int = 0, droppedFrames: UInt64 = 0) {
        self.name = name
        self.queuedFrames = queuedFrames
        self.droppedFrames = droppedFrames
    }
}

/// What one client may hold at once.
package struct SessionLimits: Sendable, Equatable {
    package var subscriptions: Int
    package var pushes: Int

    package init(subscriptions: Int, pushes: Int) {
        self.subscriptions = subscriptions
        self.pushes = pushes
    }

    /// A gRPC call: one subscription or one push.
    package static let oneCall = SessionLimits(subscriptions: 1, pushes: 1)
}

/// One admitted client: its subscriptions and pushed streams, checked against the model and its limits. Closed once
/// by its transport when the client goes, which cancels whatever it still holds and gives its place back.
package protocol ClientSession: AnyObject, Sendable {
    /// The client's number in status and logs.
    var id: Int { get }

    /// Follows the live stream `request.stream`. `announce` is called with the first token index the receiver may
    /// get, before anything is delivered (the socket queues its `subscribed` answer there). From then on `receiver`
    /// gets the stream's tokens (with `.oldest`, first those still held) through ``StreamReceiver/live(_:)`` and its
    /// events, filtered by `request.options`, and an `ended` event when the stream ends, then nothing more.
    ///
    /// - Throws: ``SessionRefusal``: `.unknownStream`, `.unsupportedPayload`, `.voiceActivityOff`,
    ///   `.tooManySubscriptions`.
    func subscribe(_ request: SubscribeRequest, receiver: any StreamReceiver,
                   announce: (_ firstToken: UInt64) -> Void) throws(SessionRefusal) -> any Subscription

    /// Starts a pushed stream, private to this client, called `name` in status and logs. Its tokens go to ``StreamReceiver/pushed(_:)``, each holding
    /// a credit of the stream's push budget (about 2 s of audio) until the transport has written it. Speech events,
    /// if asked for, go to ``StreamReceiver/event(_:)``. After ``PushedStream/finish()`` the rest is encoded under
    /// the end-of-clip rule and delivered, then an `ended` event with the token count.
    ///
    /// - Throws: ``SessionRefusal``: `.tooManyPushes`, `.unsupportedPayload`, `.badAudioFormat`,
    ///   `.voiceActivityOff`.
    func startPush(_ request: PushRequest, name: String, receiver: any StreamReceiver) throws(SessionRefusal)
        -> any PushedStream

    /// A token has been written to the client: its latency is recorded (unless replayed) and its credit released.
    /// Transports call ``send(_:with:)``, which calls this.
    func sent(_ token: SessionToken)

    /// Pushed streams not yet ended (flushing ones included).
    var activePushes: Int { get }

    /// Waits until every pushed stream has ended (flushed and delivered `ended`); false if `timeout` passed first.
    func pushesEnded(within timeout: Duration) async -> Bool

    /// The client is gone: subscriptions are cancelled, pushed streams dropped without flushing, and its place in
    /// the registry given back. Idempotent.
    func close()
}

extension ClientSession {
    /// Writes `token` with `write`, then tells the session (``sent(_:)``); if the write fails the token's credit is
    /// released all the same, so a push budget never leaks.
    package func send(_ token: SessionToken, with write: () async throws -> Void) async throws {
        do {
            try await write()
        } catch {
            token.credit?.tokenSent()
            throw error
        }
        sent(token)
    }
}

/// Where a client's tokens and events go: its transport's ``Outbox``. Called from compute threads and from the
/// client's task; no method blocks, suspends or throws.
package protocol StreamReceiver: AnyObject, Sendable {
    /// A token of a live stream. Returns false if the client's queue has no room for it: the subscription then skips
    /// the client until the transport resumes it (``Subscription/resume(room:)``), with a `lagged` event at the gap.
    func live(_ token: SessionToken) -> Bool
    /// A token of the client's pushed stream. Never dropped: its ``SessionToken/credit`` is released exactly once,
    /// when the token has been written or will never be.
    func pushed(_ token: SessionToken)
    /// An event; `ended` is the stream's last delivery.
    func event(_ event: EventInfo)
    /// The subscription these deliveries belong to, given before any is made: a receiver that refused a live token
    /// resumes it through ``Subscription/resume(room:)``.
    func attach(_ subscription: any Subscription)
}

extension StreamReceiver {
    package func attach(_ subscription: any Subscription) {}
}

/// A live subscription held by a client.
package protocol Subscription: AnyObject, Sendable {
    /// The stream's name.
    var stream: String { get }
    /// The first token index the receiver may get.
    var firstToken: UInt64 { get }
    /// Stops deliveries and queues `ended` with `reason` (harmless after `ended`). No delivery starts after it
    /// returns (one already running on a compute thread may finish).
    func cancel(reason: String)
    /// The receiver, which refused a live token, has room for `room` again: deliveries resume after a `lagged` event
    /// counting the tokens it lost (the newest of them the stream still holds are sent first, up to `room`).
    func resume(room: Int)
}

/// A pushed stream held by a client.
package protocol PushedStream: Sendable {
    /// Appends PCM bytes in the stream's format; `pcm.count` is a whole number of frames (``PushRequest/frameBytes``,
    /// the transport checks). Suspends while the stream's push budget is full (backpressure: the transport stops
    /// reading the client) and resumes as credits are released.
    func append(_ pcm: ArraySlice<UInt8>) async
    /// No more audio: encode the rest under the end-of-clip rule, deliver it, then `ended`. Returns at once.
    func finish()
    /// The client went away: drop the stream without flushing and release its budget. Idempotent; harmless after
    /// `ended`.
    func cancel()
}
