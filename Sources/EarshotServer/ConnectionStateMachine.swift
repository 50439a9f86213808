import AudioCore
import WireProtocol

/// The protocol rules for one connection, as a plain value: it takes each decoded client message and says what to
/// do. No sockets, no scheduler: tested exhaustively on its own.
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

    /// A pushed stream's declared format.
    struct PushFormat: Equatable {
        var format: PCMFormat
        var sampleRate: Int
        var channels: Int
        /// Bytes per frame (one sample per channel).
        var frameBytes: Int { format.byteWidth * channels }
    }

    enum Action: Equatable {
        case welcome(version: UInt16, clientName: String)
        case subscribe(id: UInt32, Subscribe)
        case unsubscribe(id: UInt32, name: String)
        case startPush(id: UInt32, PushStart)
        case pushAudio(id: UInt32, pcm: ArraySlice<UInt8>, PushFormat)
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

    let liveStreams: Set<String>
    let payloadTypes: Set<PayloadType>
    let maxPushedStreams: Int
    let maxSubscriptions: Int
    let supportedVersions: ClosedRange<UInt16>
    /// The server runs voice activity: speech options may be asked for.
    let voiceActivity: Bool

    private(set) var state = State.awaitingHello
    private var nextStreamID: UInt32 = 1
    /// Live subscriptions: id → stream name.
    private(set) var subscriptions: [UInt32: String] = [:]
    /// Pushed streams still taking audio (no `pushEnd` yet): id → format.
    private(set) var pushes: [UInt32: PushFormat] = [:]

    init(liveStreams: Set<String>, payloadTypes: Set<PayloadType>, maxPushedStreams: Int, maxSubscriptions: Int = 64,
         supportedVersions: ClosedRange<UInt16> = Handshake.supportedVersions, voiceActivity: Bool = true) {
        self.voiceActivity = voiceActivity
        self.liveStreams = liveStreams
        self.payloadTypes = payloadTypes
        self.maxPushedStreams = maxPushedStreams
        self.maxSubscriptions = maxSubscriptions
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

    /// Speech options cannot be served while the server's voice activity is off.
    private func refuseSpeech(_ options: StreamOptions, request: UInt32) -> Action? {
        guard !voiceActivity, !options.isEmpty else { return nil }
        return .reject(request: request, ProtocolError(.voiceActivityOff,
                                                       "voice activity is off on this server (earshotd --no-vad)"))
    }

    private mutating func receivedWhileOpen(_ message: ClientMessage) -> Action {
        switch message {
        case .hello:
            return fail(0, ProtocolError(.handshakeRequired, "hello may be sent only once"))
        case .subscribe(let m):
            guard liveStreams.contains(m.stream) else {
                let known = liveStreams.sorted().joined(separator: ", ")
                return .reject(request: m.request, ProtocolError(.unknownStream, "no live stream named '\(m.stream)'"
                                                                 + (known.isEmpty ? " (this server has none)" : " (have: \(known))")))
            }
            guard payloadTypes.contains(m.payload) else {
                return .reject(request: m.request, ProtocolError(.unsupportedPayload, "payload \(m.payload) is not offered"))
            }
            if let refusal = refuseSpeech(m.options, request: m.request) { return refusal }
            guard subscriptions.count < maxSubscriptions else {
                return .reject(request: m.request, ProtocolError(.tooManySubscriptions,
                                                                 "at most \(maxSubscriptions) subscriptions per connection"))
            }
            let id = allocateID()
            subscriptions[id] = m.stream
            return .subscribe(id: id, m)
        case .unsubscribe(let id):
            guard let name = subscriptions.removeValue(forKey: id) else {
                return .reject(request: 0, ProtocolError(.unknownStream, "stream \(id) is not a subscription of this connection"))
            }
            return .unsubscribe(id: id, name: name)
        case .pushStart(let m):
            guard pushes.count < maxPushedStreams else {
                return fail(m.request, ProtocolError(.tooManyPushedStreams,
                                                     "at most \(maxPushedStreams) pushed streams per connection"))
            }
            guard payloadTypes.contains(m.payload) else {
                return .reject(request: m.request, ProtocolError(.unsupportedPayload, "payload \(m.payload) is not offered"))
            }
            let rates = PCMStreamLimits.sampleRates, channels = PCMStreamLimits.channels
            guard rates.contains(Int(m.sampleRate)) else {
                return .reject(request: m.request, ProtocolError(.badAudioFormat, "sample rate \(m.sampleRate) is "
                                                                 + "outside \(rates.lowerBound)…\(rates.upperBound)"))
            }
            guard channels.contains(Int(m.channels)) else {
                return .reject(request: m.request, ProtocolError(.badAudioFormat, "channel count \(m.channels) is "
                                                                 + "outside \(channels.lowerBound)…\(channels.upperBound)"))
            }
            if let refusal = refuseSpeech(m.options, request: m.request) { return refusal }
            let id = allocateID()
            pushes[id] = PushFormat(format: m.format, sampleRate: Int(m.sampleRate), channels: Int(m.channels))
            return .startPush(id: id, m)
        case .pushAudio(let id, let pcm):
            guard let format = pushes[id] else {
                return .reject(request: 0, ProtocolError(.unknownStream, "stream \(id) is not an open pushed stream"))
            }
            guard pcm.count % format.frameBytes == 0 else {
                return fail(0, ProtocolError(.badAudioFormat, "pushAudio of \(pcm.count) bytes is not whole "
                                             + "\(format.frameBytes)-byte frames"))
            }
            return .pushAudio(id: id, pcm: pcm, format)
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
