/// Frame type bytes. Client → server types are below 0x80, server → client types at or above.
package enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 0x01
    case subscribe = 0x02
    case unsubscribe = 0x03
    case pushStart = 0x04
    case pushAudio = 0x05
    case pushEnd = 0x06
    case ping = 0x07
    case status = 0x08

    case welcome = 0x81
    case subscribed = 0x82
    case pushStarted = 0x83
    case embedding = 0x84
    case event = 0x85
    case error = 0x86
    case pong = 0x87
    case statusReport = 0x88

    package var name: String { "\(self)" }
}

// MARK: Client → server

package struct Subscribe: Sendable, Equatable {
    /// Echoed in `subscribed` or `error`.
    package var request: UInt32
    package var stream: String
    package var start: StartPoint
    package var payload: PayloadType
    package var output: OutputKind
    package var options: StreamOptions

    package init(request: UInt32, stream: String, start: StartPoint = .now, payload: PayloadType = .f32,
                 output: OutputKind = .embeddings, options: StreamOptions = []) {
        self.request = request
        self.stream = stream
        self.start = start
        self.payload = payload
        self.output = output
        self.options = options
    }
}

package struct PushStart: Sendable, Equatable {
    package var request: UInt32
    package var format: PCMFormat
    package var sampleRate: UInt32
    package var channels: UInt16
    package var payload: PayloadType
    package var output: OutputKind
    /// Free text for logs and status, e.g. a file name.
    package var label: String
    package var options: StreamOptions

    package init(request: UInt32, format: PCMFormat, sampleRate: UInt32, channels: UInt16,
                 payload: PayloadType = .f32, output: OutputKind = .embeddings, label: String = "",
                 options: StreamOptions = []) {
        self.request = request
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
        self.payload = payload
        self.output = output
        self.label = label
        self.options = options
    }
}

/// Everything a client may send.
package enum ClientMessage: Sendable, Equatable {
    case hello(Hello)
    case subscribe(Subscribe)
    /// Stop a subscription (by the stream id `subscribed` gave); the server answers with an `ended` event.
    case unsubscribe(stream: UInt32)
    case pushStart(PushStart)
    /// PCM in the stream's format, whole frames (samples × channels); any amount per frame.
    case pushAudio(stream: UInt32, pcm: ArraySlice<UInt8>)
    /// No more audio: the server encodes what is left (end-of-clip rule), sends it, then an `ended` event.
    case pushEnd(stream: UInt32)
    case ping(nonce: UInt64)
    case status(request: UInt32)

    package var type: MessageType {
        switch self {
        case .hello: .hello
        case .subscribe: .subscribe
        case .unsubscribe: .unsubscribe
        case .pushStart: .pushStart
        case .pushAudio: .pushAudio
        case .pushEnd: .pushEnd
        case .ping: .ping
        case .status: .status
        }
    }

    /// The whole frame.
    package func encoded() -> [UInt8] {
        switch self {
        case .hello(let m):
            return Frame.encode(type: MessageType.hello.rawValue) { w in
                w.raw(Handshake.magic)
                w.u16(m.versions.lowerBound)
                w.u16(m.versions.upperBound)
                w.string(m.clientName)
            }
        case .subscribe(let m):
            return Frame.encode(type: MessageType.subscribe.rawValue) { w in
                w.u32(m.request)
                w.string(m.stream)
                w.u8(m.start.rawValue)
                w.u8(m.payload.rawValue)
                w.u8(m.output.rawValue)
                if !m.options.isEmpty { w.u8(m.options.rawValue) }
            }
        case .unsubscribe(let stream):
            return Frame.encode(type: MessageType.unsubscribe.rawValue) { $0.u32(stream) }
        case .pushStart(let m):
            return Frame.encode(type: MessageType.pushStart.rawValue) { w in
                w.u32(m.request)
                w.u8(m.format.rawValue)
                w.u32(m.sampleRate)
                w.u16(m.channels)
                w.u8(m.payload.rawValue)
                w.u8(m.output.rawValue)
                w.string(m.label)
                if !m.options.isEmpty { w.u8(m.options.rawValue) }
            }
        case .pushAudio(let stream, let pcm):
            return Frame.encode(type: MessageType.pushAudio.rawValue, capacity: 4 + pcm.count) { w in
                w.u32(stream)
                w.raw(pcm)
            }
        case .pushEnd(let stream):
            return Frame.encode(type: MessageType.pushEnd.rawValue) { $0.u32(stream) }
        case .ping(let nonce):
            return Frame.encode(type: MessageType.ping.rawValue) { $0.u64(nonce) }
        case .status(let request):
            return Frame.encode(type: MessageType.status.rawValue) { $0.u32(request) }
        }
    }

    /// Parses a frame the server received.
    package init(frame: Frame) throws(ProtocolError) {
        guard let type = MessageType(rawValue: frame.type), type.rawValue < 0x80 else {
            throw ProtocolError(.unexpectedMessage, "frame type 0x\(String(frame.type, radix: 16)) is not a client message")
        }
        var r = ByteReader(frame.body, context: type.name)
        switch type {
        case .hello:
            let magic = try r.take(Handshake.magic.count)
            guard magic.elementsEqual(Handshake.magic) else {
                throw ProtocolError(.handshakeRequired, "hello does not start with \"EARS\": not an Earshot client")
            }
            let low = try r.u16(), high = try r.u16()
            guard low <= high else { throw ProtocolError(.malformedFrame, "hello: version range \(low)…\(high) is empty") }
            let name = try r.string()
            if let refusal = ClientText.refusal(name, field: "hello: the client name") {
                throw ProtocolError(.malformedFrame, refusal)
            }
            self = .hello(Hello(versions: low...high, clientName: name))
        case .subscribe:
            let request = try r.u32()
            let stream = try r.string()
            let start = try Self.enumValue(StartPoint.self, try r.u8(), "start", type)
            let payload = try Self.enumValue(PayloadType.self, try r.u8(), "payload", type)
            let output = try Self.enumValue(OutputKind.self, try r.u8(), "output", type)
            self = .subscribe(Subscribe(request: request, stream: stream, start: start, payload: payload, output: output,
                                        options: try Self.options(&r, type)))
        case .unsubscribe:
            self = .unsubscribe(stream: try r.u32())
        case .pushStart:
            let request = try r.u32()
            let format = try Self.enumValue(PCMFormat.self, try r.u8(), "format", type)
            let rate = try r.u32()
            let channels = try r.u16()
            let payload = try Self.enumValue(PayloadType.self, try r.u8(), "payload", type)
            let output = try Self.enumValue(OutputKind.self, try r.u8(), "output", type)
            let label = try r.string()
            if let refusal = ClientText.refusal(label, field: "pushStart: the label") {
                throw ProtocolError(.malformedFrame, refusal)
            }
            self = .pushStart(PushStart(request: request, format: format, sampleRate: rate, channels: channels,
                                        payload: payload, output: output, label: label,
                                        options: try Self.options(&r, type)))
        case .pushAudio:
            let stream = try r.u32()
            self = .pushAudio(stream: stream, pcm: r.rest())
        case .pushEnd:
            self = .pushEnd(stream: try r.u32())
        case .ping:
            self = .ping(nonce: try r.u64())
        case .status:
            self = .status(request: try r.u32())
        default:
            preconditionFailure("server message types are excluded above")
        }
        try r.finish()
    }

    /// The optional trailing `options` byte: none when the body ends here.
    static func options(_ r: inout ByteReader, _ type: MessageType) throws(ProtocolError) -> StreamOptions {
        guard r.remaining > 0 else { return [] }
        let options = StreamOptions(rawValue: try r.u8())
        guard !options.isEmpty, StreamOptions.known.isSuperset(of: options) else {
            throw ProtocolError(.malformedFrame, "\(type.name): unknown options bits 0x\(String(options.rawValue, radix: 16))")
        }
        return options
    }

    static func enumValue<T: RawRepresentable<UInt8>>(_: T.Type, _ raw: UInt8, _ field: String,
                                                      _ type: MessageType) throws(ProtocolError) -> T {
        guard let value = T(rawValue: raw) else {
            throw ProtocolError(.malformedFrame, "\(type.name): unknown \(field) value \(raw)")
        }
        return value
    }
}

// MARK: Server → client

/// The fixed part of an `embedding` frame.
package struct EmbeddingHeader: Sendable, Equatable {
    /// The id `subscribed` or `pushStarted` gave.
    package var stream: UInt32
    /// The token's index in its stream, counted from 0 and increasing by one per token the stream produced.
    package var token: UInt64
    /// The first of the token's 640 samples on the stream's 16 kHz timeline.
    package var firstSample: Int64
    /// When that sample was captured (or, for pushed audio, received), as nanoseconds since the Unix epoch.
    package var captureTimeNanoseconds: Int64
    package var flags: TokenFlags
    package var payload: PayloadType
    package var output: OutputKind

    package init(stream: UInt32, token: UInt64, firstSample: Int64, captureTimeNanoseconds: Int64,
                 flags: TokenFlags, payload: PayloadType, output: OutputKind) {
        self.stream = stream
        self.token = token
        self.firstSample = firstSample
        self.captureTimeNanoseconds = captureTimeNanoseconds
        self.flags = flags
        self.payload = payload
        self.output = output
    }

    /// Body bytes before the values.
    package static let byteCount = 4 + 8 + 8 + 8 + 2 + 1 + 1 + 4

    /// Writes the header fields and the value count.
    func write(width: Int, into w: inout ByteWriter) {
        w.u32(stream)
        w.u64(token)
        w.i64(firstSample)
        w.i64(captureTimeNanoseconds)
        w.u16(flags.rawValue)
        w.u8(payload.rawValue)
        w.u8(output.rawValue)
        w.u32(UInt32(width))
    }
}

/// One token's values as received.
package struct Embedding: Sendable, Equatable {
    package var header: EmbeddingHeader
    package var width: Int
    /// `width × payload.byteWidth` little-endian bytes.
    package var bytes: ArraySlice<UInt8>

    package init(header: EmbeddingHeader, width: Int, bytes: ArraySlice<UInt8>) {
        self.header = header
        self.width = width
        self.bytes = bytes
    }

    /// The values as Float (f16 and bf16 widen exactly).
    package func values() -> [Float] { header.payload.decode(bytes, count: width) }

    /// The whole frame for one token: `values` is the token's row (width values) in f32.
    package static func encode(_ header: EmbeddingHeader, values: UnsafeBufferPointer<Float>) -> [UInt8] {
        Frame.encode(type: MessageType.embedding.rawValue,
                     capacity: EmbeddingHeader.byteCount + values.count * header.payload.byteWidth) { w in
            header.write(width: values.count, into: &w)
            w.values(values, as: header.payload)
        }
    }
}

package struct StreamEvent: Sendable, Equatable {
    package var stream: UInt32
    package var kind: EventKind
    package var at: Int64
    package var count: UInt64
    package var message: String

    package init(stream: UInt32, kind: EventKind, at: Int64 = 0, count: UInt64 = 0, message: String = "") {
        self.stream = stream
        self.kind = kind
        self.at = at
        self.count = count
        self.message = message
    }
}

package struct ErrorMessage: Sendable, Equatable {
    /// The request it answers, or 0 for the connection as a whole.
    package var request: UInt32
    /// The wire code; one this build does not know reads as `internalError` through ``code``.
    package var rawCode: UInt16
    /// True when the server closes the connection after this frame.
    package var fatal: Bool
    package var message: String

    package init(request: UInt32 = 0, code: ErrorCode, fatal: Bool, message: String) {
        self.init(request: request, rawCode: code.rawValue, fatal: fatal, message: message)
    }

    package init(request: UInt32, rawCode: UInt16, fatal: Bool, message: String) {
        self.request = request
        self.rawCode = rawCode
        self.fatal = fatal
        self.message = message
    }

    package var code: ErrorCode { ErrorCode(rawValue: rawCode) ?? .internalError }
}

/// Everything a server may send.
package enum ServerMessage: Sendable, Equatable {
    case welcome(Welcome)
    /// The subscription `request` is live as stream id `stream`; its first token will be `firstToken`.
    case subscribed(request: UInt32, stream: UInt32, name: String, firstToken: UInt64)
    case pushStarted(request: UInt32, stream: UInt32)
    case embedding(Embedding)
    case event(StreamEvent)
    case error(ErrorMessage)
    case pong(nonce: UInt64, serverTimeNanoseconds: Int64)
    /// JSON text (docs/protocol.md, "Status").
    case status(request: UInt32, json: String)

    package var type: MessageType {
        switch self {
        case .welcome: .welcome
        case .subscribed: .subscribed
        case .pushStarted: .pushStarted
        case .embedding: .embedding
        case .event: .event
        case .error: .error
        case .pong: .pong
        case .status: .statusReport
        }
    }

    package func encoded() -> [UInt8] {
        switch self {
        case .welcome(let m):
            return Frame.encode(type: MessageType.welcome.rawValue, capacity: 128) { w in
                w.u16(m.version)
                w.string(m.serverName)
                w.string(m.modelID)
                w.u32(m.embeddingWidth)
                w.u32(m.encoderWidth)
                w.u8(m.payloadTypes.reduce(0) { $0 | $1.maskBit })
                w.u32(m.sampleRate)
                w.u32(m.samplesPerToken)
                w.f32(m.tokensPerSecond)
                w.u16(m.blockTokens)
                w.u32(m.maxFrameLength)
                w.u16(m.maxPushedStreams)
                w.u32(m.historyTokens)
                w.u16(UInt16(min(m.streams.count, Int(UInt16.max))))
                for name in m.streams.prefix(Int(UInt16.max)) { w.string(name) }
            }
        case .subscribed(let request, let stream, let name, let firstToken):
            return Frame.encode(type: MessageType.subscribed.rawValue) { w in
                w.u32(request)
                w.u32(stream)
                w.string(name)
                w.u64(firstToken)
            }
        case .pushStarted(let request, let stream):
            return Frame.encode(type: MessageType.pushStarted.rawValue) { w in
                w.u32(request)
                w.u32(stream)
            }
        case .embedding(let e):
            return Frame.encode(type: MessageType.embedding.rawValue, capacity: EmbeddingHeader.byteCount + e.bytes.count) { w in
                e.header.write(width: e.width, into: &w)
                w.raw(e.bytes)
            }
        case .event(let e):
            return Frame.encode(type: MessageType.event.rawValue) { w in
                w.u32(e.stream)
                w.u8(e.kind.rawValue)
                w.i64(e.at)
                w.u64(e.count)
                w.string(e.message)
            }
        case .error(let e):
            return Frame.encode(type: MessageType.error.rawValue) { w in
                w.u32(e.request)
                w.u16(e.rawCode)
                w.u8(e.fatal ? 1 : 0)
                w.string(e.message)
            }
        case .pong(let nonce, let time):
            return Frame.encode(type: MessageType.pong.rawValue) { w in
                w.u64(nonce)
                w.i64(time)
            }
        case .status(let request, let json):
            let utf8 = Array(json.utf8)
            return Frame.encode(type: MessageType.statusReport.rawValue, capacity: 4 + utf8.count) { w in
                w.u32(request)
                w.raw(utf8)
            }
        }
    }

    /// Parses a frame the client received.
    package init(frame: Frame) throws(ProtocolError) {
        guard let type = MessageType(rawValue: frame.type), type.rawValue >= 0x80 else {
            throw ProtocolError(.unexpectedMessage, "frame type 0x\(String(frame.type, radix: 16)) is not a server message")
        }
        var r = ByteReader(frame.body, context: type.name)
        switch type {
        case .welcome:
            let version = try r.u16()
            let serverName = try r.string()
            let modelID = try r.string()
            let d = try r.u32(), p = try r.u32()
            let mask = try r.u8()
            let payloads = PayloadType.allCases.filter { mask & $0.maskBit != 0 }
            let rate = try r.u32(), perToken = try r.u32()
            let tokensPerSecond = try r.f32()
            let block = try r.u16()
            let maxFrame = try r.u32()
            let maxPushed = try r.u16()
            let history = try r.u32()
            let streamCount = Int(try r.u16())
            var streams: [String] = []
            for _ in 0..<streamCount { streams.append(try r.string()) }
            self = .welcome(Welcome(version: version, serverName: serverName, modelID: modelID, embeddingWidth: d,
                                    encoderWidth: p, payloadTypes: payloads, sampleRate: rate,
                                    samplesPerToken: perToken, tokensPerSecond: tokensPerSecond, blockTokens: block,
                                    maxFrameLength: maxFrame, maxPushedStreams: maxPushed, historyTokens: history,
                                    streams: streams))
        case .subscribed:
            self = .subscribed(request: try r.u32(), stream: try r.u32(), name: try r.string(), firstToken: try r.u64())
        case .pushStarted:
            self = .pushStarted(request: try r.u32(), stream: try r.u32())
        case .embedding:
            let header = EmbeddingHeader(
                stream: try r.u32(), token: try r.u64(), firstSample: try r.i64(), captureTimeNanoseconds: try r.i64(),
                flags: TokenFlags(rawValue: try r.u16()),
                payload: try ClientMessage.enumValue(PayloadType.self, try r.u8(), "payload", type),
                output: try ClientMessage.enumValue(OutputKind.self, try r.u8(), "output", type))
            let width = Int(try r.u32())
            guard r.remaining == width * header.payload.byteWidth else {
                throw ProtocolError(.malformedFrame, "embedding: \(r.remaining) payload bytes for \(width) "
                                    + "\(header.payload) values")
            }
            self = .embedding(Embedding(header: header, width: width, bytes: r.rest()))
        case .event:
            let stream = try r.u32()
            let kind = try ClientMessage.enumValue(EventKind.self, try r.u8(), "kind", type)
            self = .event(StreamEvent(stream: stream, kind: kind, at: try r.i64(), count: try r.u64(),
                                      message: try r.string()))
        case .error:
            let request = try r.u32()
            let code = try r.u16()
            let fatal = try r.u8() != 0
            self = .error(ErrorMessage(request: request, rawCode: code, fatal: fatal, message: try r.string()))
        case .pong:
            self = .pong(nonce: try r.u64(), serverTimeNanoseconds: try r.i64())
        case .statusReport:
            let request = try r.u32()
            guard let json = String(validating: r.rest(), as: UTF8.self) else {
                throw ProtocolError(.malformedFrame, "statusReport: the JSON is not valid UTF-8")
            }
            self = .status(request: request, json: json)
        default:
            preconditionFailure("client message types are excluded above")
        }
        try r.finish()
    }
}
