import EarshotTypes
import WireProtocol

/// What the gRPC service needs from the daemon: the narrow seam between ``EarshotService`` and the engine.
///
/// The daemon's engine conforms to this (an adapter in the daemon); tests conform a scripted backend. Every method is
/// called from a call's task on the cooperative pool and must return promptly: work that takes time (encoding) happens
/// elsewhere, and its results come back through the ``StreamReceiver`` handed in.
///
/// Receivers are called from compute threads. They never block and never suspend: a live token that does not fit
/// the call's queue is refused and the subscription skips the call until it resumes it (a `lagged` event then marks
/// the gap), and a pushed token is
/// always queued and holds ``TokenCredit`` until it is written, so the backend's push budget — not the receiver —
/// applies backpressure. These are the socket's queue policies (docs/protocol.md, "Slow readers").
package protocol EmbeddingBackend: Sendable {
    /// The model and what it offers, fixed for the backend's life.
    var model: BackendModel { get }

    /// The status document of docs/protocol.md ("Status"), as the socket's `statusReport` carries it: one JSON
    /// object. Called for each `Status` RPC; should not block for long.
    func statusJSON() -> String

    /// Follows the live stream `request.stream`. From the return onward `receiver` gets the stream's tokens (with
    /// `.oldest`, first those still held) through ``StreamReceiver/live(_:)`` and its events through
    /// ``StreamReceiver/event(_:)``, filtered by `request.options` as on the socket. It gets an `ended` event when the
    /// stream ends (source finished, server stopping) and nothing after it.
    ///
    /// - Throws: ``BackendRefusal`` `.unknownStream` for a name the daemon does not serve, `.limitReached` past the
    ///   subscription limit, `.voiceActivityOff` for a speech option without voice activity, `.unsupported` for a
    ///   payload the daemon does not offer.
    /// - Returns: the subscription; the service calls ``BackendSubscription/cancel()`` when the call ends for any
    ///   reason (after `ended` too, where it must be harmless).
    func subscribe(_ request: SubscribeParameters, receiver: any StreamReceiver) throws(BackendRefusal)
        -> any BackendSubscription

    /// Starts a pushed stream, private to this call. Its tokens go to ``StreamReceiver/pushed(_:credit:)``, each with
    /// a credit the service releases once the token is written to the caller, so the backend can hold at most its
    /// push budget (about 2 s of audio) of work per stream. Speech events (if asked for) go to
    /// ``StreamReceiver/event(_:)``. After ``PushedStream/finish()`` the backend encodes what is left under the
    /// end-of-clip rule, delivers it, then an `ended` event with the token count, and forgets the stream.
    ///
    /// - Throws: ``BackendRefusal`` `.limitReached` past the pushed-stream limit, `.voiceActivityOff`,
    ///   `.unsupported`; `.badAudioFormat` if the backend refuses the format (the service has already checked the
    ///   ranges of docs/protocol.md).
    func startPush(_ request: PushParameters, receiver: any StreamReceiver) throws(BackendRefusal) -> any PushedStream

    /// The service turned a call away before asking the backend: past its call limit (`.limitReached`) or while
    /// the daemon stops (`.shuttingDown`). The daemon counts it with the socket's refusals (status
    /// `totals.refusals`, `earshot_refusals_total`), as it counts the refusals of ``subscribe(_:receiver:)`` and
    /// ``startPush(_:receiver:)``.
    func callRefused(_ refusal: BackendRefusal)
}

/// The model's fixed facts, as the socket's `welcome` gives them.
package struct BackendModel: Sendable, Equatable {
    /// The model's name in status and logs.
    package var id: String
    /// `D`: the width of `embeddings` (the language model's hidden size).
    package var embeddingWidth: Int
    /// `P`: the width of `encoder` (`output_proj_dims`).
    package var encoderWidth: Int
    /// The payload types offered.
    package var payloads: Set<PayloadType>
    /// Whether voice activity runs (speech options are refused without it).
    package var voiceActivity: Bool

    package init(id: String, embeddingWidth: Int, encoderWidth: Int,
                 payloads: Set<PayloadType> = Set(PayloadType.allCases), voiceActivity: Bool) {
        self.id = id
        self.embeddingWidth = embeddingWidth
        self.encoderWidth = encoderWidth
        self.payloads = payloads
        self.voiceActivity = voiceActivity
    }

    /// `D` or `P`.
    package func width(of output: OutputKind) -> Int { output == .embeddings ? embeddingWidth : encoderWidth }
}

/// A `Subscribe` request, checked.
package struct SubscribeParameters: Sendable, Equatable {
    package var stream: String
    package var start: StartPoint
    package var payload: PayloadType
    package var output: OutputKind
    package var options: StreamOptions

    package init(stream: String, start: StartPoint, payload: PayloadType, output: OutputKind, options: StreamOptions) {
        self.stream = stream
        self.start = start
        self.payload = payload
        self.output = output
        self.options = options
    }
}

/// A `Push` request's `start`, checked: the ranges of docs/protocol.md hold.
package struct PushParameters: Sendable, Equatable {
    package var format: PCMFormat
    /// 1000…768000.
    package var sampleRate: Int
    /// 1…64.
    package var channels: Int
    package var payload: PayloadType
    package var output: OutputKind
    package var label: String
    package var options: StreamOptions

    package init(format: PCMFormat, sampleRate: Int, channels: Int, payload: PayloadType, output: OutputKind,
                 label: String, options: StreamOptions) {
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
        self.payload = payload
        self.output = output
        self.label = label
        self.options = options
    }

    /// Bytes per interleaved frame: audio must come in whole multiples of this.
    package var frameBytes: Int { format.byteWidth * channels }
}

/// One token as the backend hands it over: where it lies, and its values, encoded on demand.
package struct BackendToken: Sendable {
    /// 0, 1, 2, … in its stream.
    package var index: UInt64
    /// The first of its 640 samples on the stream's 16 kHz timeline.
    package var firstSample: Int64
    /// When `firstSample` was captured (pushed audio: received), ns since the Unix epoch.
    package var captureTimeNanoseconds: Int64
    package var flags: TokenFlags
    /// The values, encoded by the call's writer (not on the compute thread that delivered the token).
    package var values: any TokenValues

    package init(index: UInt64, firstSample: Int64, captureTimeNanoseconds: Int64, flags: TokenFlags,
                 values: any TokenValues) {
        self.index = index
        self.firstSample = firstSample
        self.captureTimeNanoseconds = captureTimeNanoseconds
        self.flags = flags
        self.values = values
    }
}

/// A token's values in the output the call asked for. The daemon wraps its encoded block's row (no copy); the
/// bytes must be exactly those after the header of the socket's `embedding` frame, so both transports agree bit for
/// bit.
package protocol TokenValues: Sendable {
    /// Values per token (`D` or `P`).
    var width: Int { get }
    /// The `width` values in `payload`, little-endian (``PayloadType/encode(_:into:)``).
    func encoded(as payload: PayloadType) -> [UInt8]
}

/// Values held as Float: for tests and simple backends.
package struct FloatTokenValues: TokenValues {
    package var values: [Float]

    package init(_ values: [Float]) { self.values = values }

    package var width: Int { values.count }

    package func encoded(as payload: PayloadType) -> [UInt8] {
        var writer = ByteWriter(capacity: values.count * payload.byteWidth)
        values.withUnsafeBufferPointer { payload.encode($0, into: &writer) }
        return writer.bytes
    }
}

/// An event of a stream, as the socket's `event` frame without its stream id.
package struct BackendEvent: Sendable, Equatable {
    package var kind: EventKind
    package var at: Int64
    package var count: UInt64
    package var message: String

    package init(kind: EventKind, at: Int64, count: UInt64 = 0, message: String = "") {
        self.kind = kind
        self.at = at
        self.count = count
        self.message = message
    }
}

/// Where a call's tokens and events go. Implemented by the service (a per-call queue); called by the backend from
/// any thread. No method blocks, suspends or throws.
package protocol StreamReceiver: AnyObject, Sendable {
    /// A token of a live stream. Returns false if the caller's queue has no room for it: the subscription then
    /// skips the call until the call resumes it (``BackendSubscription/resume(room:)``), with a `lagged` event at the
    /// gap.
    func live(_ token: BackendToken) -> Bool
    /// A token of this call's pushed stream. Never dropped: `credit.tokenSent()` is called exactly once, when the
    /// token has been written to the caller or the call has ended without writing it.
    func pushed(_ token: BackendToken, credit: any TokenCredit)
    /// An event; `ended` is the stream's last delivery.
    func event(_ event: BackendEvent)
}

/// A live subscription held by a call.
package protocol BackendSubscription: Sendable {
    /// The stream's name.
    var stream: String { get }
    /// The first token index the receiver may get.
    var firstToken: UInt64 { get }
    /// Stops deliveries. Idempotent; harmless after `ended`. After it returns no more deliveries start (one already
    /// running on a compute thread may still finish).
    func cancel()
    /// The receiver, which refused a live token, has room for `room` again: deliveries resume, after a `lagged`
    /// event counting the tokens it lost (the newest of them the stream still holds are sent first, up to `room`).
    func resume(room: Int)
}

/// A pushed stream held by a call.
package protocol PushedStream: Sendable {
    /// Appends PCM bytes in the stream's format; `pcm.count` is a whole number of frames (the service checks).
    /// Suspends while the stream's push budget is full (backpressure: the service stops reading the caller) and
    /// resumes as credits are released. Throws `CancellationError` if the task is cancelled while it waits.
    func append(_ pcm: [UInt8]) async throws
    /// No more audio (the caller half-closed): encode the rest under the end-of-clip rule, deliver it, then `ended`.
    /// Returns once the request is taken, not when `ended` is delivered.
    func finish()
    /// The call went away: drop the stream without flushing, and release its budget. Idempotent; harmless after
    /// `ended`.
    func cancel()
}

/// Why the backend refused a request. The service turns each reason into a gRPC status code.
package struct BackendRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Reason: Sendable, Equatable {
        /// No live stream of that name (NOT_FOUND).
        case unknownStream
        /// A limit of the daemon's: clients, pushed streams, subscriptions (RESOURCE_EXHAUSTED).
        case limitReached
        /// A speech option while voice activity is off (FAILED_PRECONDITION).
        case voiceActivityOff
        /// A payload or output not offered (INVALID_ARGUMENT).
        case unsupported
        /// A sample rate, channel count or format refused (INVALID_ARGUMENT).
        case badAudioFormat
        /// The daemon is stopping (UNAVAILABLE).
        case shuttingDown
        /// A failure inside the daemon (INTERNAL).
        case internalError
    }

    package var reason: Reason
    package var message: String

    package init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    package var description: String { message }
}
