import WireProtocol

/// The protocol rules for one connection, as a plain value: it takes each decoded client message and says what to
/// do. It knows the handshake and the connection's stream ids; what a request may ask of the daemon (streams,
/// payloads, formats, limits) is the session layer's to check. No sockets, no engine: tested exhaustively on its own.
///
/// ```
/// awaitingHello ──hello (version ok)──▶ open ──fatal error / close──▶ closed
///       └──────anything else, bad version──────────────────────────────▲
/// ```
struct ConnectionStateMachine {
    enum State: Equatable {
        case awaitingHello
        case open(version: UInt16)
        case closed
    }

    enum Action: Equatable {
        case welcome(version: UInt16, clientName: String)
        /// Ask the session; if it agrees, ``subscribed(_:)`` names the subscription (``nextStreamID``).
        case subscribe(Subscribe)
        case unsubscribe(id: UInt32, name: String)
        /// Ask the session; if it agrees, ``pushStarted(frameBytes:)`` names the stream (``nextStreamID``).
        case startPush(PushStart)
        /// Whole frames of an open pushed stream.
        case pushAudio(id: UInt32, pcm: ArraySlice<UInt8>)
        case endPush(id: UInt32)
        case pong(nonce: UInt64)
        case status(request: UInt32)
        /// Send a non-fatal error answering `request`; the connection stays open.
        case reject(request: UInt32, ProtocolError)
        /// Send a fatal error, then close.
        case fail(request: UInt32, ProtocolError)
        /// Nothing (the connection is already closing).
        case ignore
    }

    let supportedVersions: ClosedRange<UInt16>

    private(set) var state = State.awaitingHello
    /// The id the next subscription or pushed stream gets.
    private(set) var nextStreamID: UInt32 = 1
    /// Live subscriptions: id → stream name.
    private(set) var subscriptions: [UInt32: String] = [:]
    /// Pushed streams still taking audio (no `pushEnd` yet): id → bytes per frame.
    private(set) var pushes: [UInt32: Int] = [:]

    init(supportedVersions: ClosedRange<UInt16> = Handshake.supportedVersions) {
        self.supportedVersions = supportedVersions
    }

    mutating func received(_ message: ClientMessage) -> Action {
        switch state {
        case .closed:
            return .ignore
        case .awaitingHello:
            guard case .hello(let hello) = message else {
                return fail(0, ProtocolError(.handshakeRequired, "the first frame must be hello, got \(message.type.name)"))
            }
            do {
                let version = try Handshake.negotiate(hello.versions, supported: supportedVersions)
                state = .open(version: version)
                return .welcome(version: version, clientName: hello.clientName)
            } catch {
                return fail(0, error)
            }
        case .open:
            return receivedWhileOpen(message)
        }
    }

    private mutating func receivedWhileOpen(_ message: ClientMessage) -> Action {
        switch message {
        case .hello:
            return fail(0, ProtocolError(.handshakeRequired, "hello may be sent only once"))
        case .subscribe(let m):
            return .subscribe(m)
        case .unsubscribe(let id):
            guard let name = subscriptions.removeValue(forKey: id) else {
                return .reject(request: 0, ProtocolError(.unknownStream, "stream \(id) is not a subscription of this connection"))
            }
            return .unsubscribe(id: id, name: name)
        case .pushStart(let m):
            return .startPush(m)
        case .pushAudio(let id, let pcm):
            guard let frameBytes = pushes[id] else {
                return .reject(request: 0, ProtocolError(.unknownStream, "stream \(id) is not an open pushed stream"))
            }
            guard pcm.count % frameBytes == 0 else {
                return fail(0, ProtocolError(.badAudioFormat, "pushAudio of \(pcm.count) bytes is not whole "
                                             + "\(frameBytes)-byte frames"))
            }
            return .pushAudio(id: id, pcm: pcm)
        case .pushEnd(let id):
            guard pushes.removeValue(forKey: id) != nil else {
                return .reject(request: 0, ProtocolError(.unknownStream, "stream \(id) is not an open pushed stream"))
            }
            return .endPush(id: id)
        case .ping(let nonce):
            return .pong(nonce: nonce)
        case .status(let request):
            return .status(request: request)
        }
    }

    /// The session took a subscription to `stream`: it gets ``nextStreamID``.
    mutating func subscribed(_ stream: String) -> UInt32 {
        let id = allocateID()
        subscriptions[id] = stream
        return id
    }

    /// The session started a pushed stream whose audio comes in frames of `frameBytes`: it gets ``nextStreamID``.
    mutating func pushStarted(frameBytes: Int) -> UInt32 {
        let id = allocateID()
        pushes[id] = frameBytes
        return id
    }

    /// A frame that would not decode: fatal.
    mutating func decodingFailed(_ error: ProtocolError) -> Action {
        guard state != .closed else { return .ignore }
        return fail(0, error)
    }

    /// The connection is closing for another reason (end of input, shutdown).
    mutating func close() {
        state = .closed
    }

    private mutating func fail(_ request: UInt32, _ error: ProtocolError) -> Action {
        state = .closed
        return .fail(request: request, error)
    }

    private mutating func allocateID() -> UInt32 {
        defer { nextStreamID &+= 1 }
        return nextStreamID
    }
}
