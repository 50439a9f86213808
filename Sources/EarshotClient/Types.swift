import WireProtocol

/// How embedding values travel on the wire. The server offers a subset (see ``ServerInfo/payloadFormats``).
public enum PayloadFormat: String, Sendable, CaseIterable {
    /// 32-bit float: the encoder's values, bit for bit.
    case f32
    /// IEEE half precision, rounded to nearest even (half the bytes).
    case f16
    /// bfloat16, rounded to nearest even (half the bytes, float32's range).
    case bf16

    var wire: PayloadType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }

    init(_ wire: PayloadType) {
        switch wire {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        }
    }
}

/// Which encoder output a stream carries.
public enum EmbeddingKind: String, Sendable, CaseIterable {
    /// `embed_audio` rows, width D: what Gemma 4 feeds its language model in place of audio soft tokens.
    case embeddings
    /// The audio tower's `output_proj` rows (`last_hidden_state`), width P.
    case encoder

    var wire: OutputKind { self == .embeddings ? .embeddings : .encoder }
    init(_ wire: OutputKind) { self = wire == .embeddings ? .embeddings : .encoder }
}

/// Where a subscription to a live stream starts.
public enum SubscriptionStart: Sendable {
    /// With the next token encoded.
    case now
    /// With the oldest token the server still holds (see ``ServerInfo/historyTokens``), then live.
    case oldest

    var wire: StartPoint { self == .now ? .now : .oldest }
}

/// Raw PCM layouts for pushed audio (interleaved, little-endian).
public enum SampleFormat: String, Sendable, CaseIterable {
    /// Signed 16-bit.
    case s16le
    /// Signed 32-bit.
    case s32le
    /// 32-bit float.
    case f32le

    /// Bytes per sample.
    public var byteWidth: Int { wire.byteWidth }

    var wire: PCMFormat {
        switch self {
        case .s16le: .s16le
        case .s32le: .s32le
        case .f32le: .f32le
        }
    }
}

/// Per-token flags.
public struct EmbeddingFlags: OptionSet, Sendable, Hashable {
    /// The wire bits (docs/protocol.md, `embedding` flags).
    public let rawValue: UInt16
    /// Makes flags from their wire bits.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Audio is missing right before this token (a new segment starts, or zeros stand in for lost audio).
    public static let discontinuity = EmbeddingFlags(rawValue: TokenFlags.discontinuity.rawValue)
    /// The token's 40 ms are silent (below one 16-bit step) or stand in for lost audio.
    public static let silence = EmbeddingFlags(rawValue: TokenFlags.silence.rawValue)
    /// The last token of a segment, computed under the end-of-clip rule.
    public static let final = EmbeddingFlags(rawValue: TokenFlags.final.rawValue)
    /// Part of the token's audio is zeros inserted for audio lost upstream.
    public static let gapFilled = EmbeddingFlags(rawValue: TokenFlags.gapFilled.rawValue)
    /// The token overlaps speech as the server's voice-activity detector knew it when the token was sent.
    public static let speech = EmbeddingFlags(rawValue: TokenFlags.speech.rawValue)
}

/// What a subscription or pushed stream receives besides every token (docs/protocol.md, "Voice activity").
public enum SpeechDelivery: Sendable, Hashable {
    /// Every token; no speech events (what clients before voice activity get).
    case none
    /// Every token, plus ``EarshotEvent/Kind/speechStart`` and ``EarshotEvent/Kind/speechEnd`` events.
    case events
    /// Only tokens flagged ``EmbeddingFlags/speech`` (token indices skip), plus the speech events.
    case speechOnly

    var wire: StreamOptions {
        switch self {
        case .none: []
        case .events: .speechEvents
        case .speechOnly: .speechOnly
        }
    }
}

/// What the server said when the connection opened.
public struct ServerInfo: Sendable, Equatable {
    /// The protocol version in use.
    public var protocolVersion: Int
    /// The server's name and version, e.g. "earshotd 0.3.0".
    public var serverName: String
    /// The loaded model (its path or name).
    public var modelID: String
    /// D: the width of ``EmbeddingKind/embeddings`` values (the language model's hidden size).
    public var embeddingWidth: Int
    /// P: the width of ``EmbeddingKind/encoder`` values.
    public var encoderWidth: Int
    /// Payload formats the server offers.
    public var payloadFormats: [PayloadFormat]
    /// The token timeline's sample rate (16000).
    public var sampleRate: Int
    /// Samples per token (Gemma 4: 640, Echo: 160): a token covers `[firstSample, firstSample + samplesPerToken)`.
    public var samplesPerToken: Int
    /// Tokens per second of audio (25).
    public var tokensPerSecond: Double
    /// Tokens per encoder pass: a token may wait for up to `blockTokens − 1` later ones.
    public var blockTokens: Int
    /// The largest frame the server accepts.
    public var maxFrameLength: Int
    /// Streams one connection may push at once.
    public var maxPushedStreams: Int
    /// Tokens each live stream keeps for ``SubscriptionStart/oldest``.
    public var historyTokens: Int
    /// The live streams' names.
    public var streams: [String]

    /// The width of values of `kind`.
    public func width(of kind: EmbeddingKind) -> Int { kind == .embeddings ? embeddingWidth : encoderWidth }

    init(_ w: Welcome) {
        protocolVersion = Int(w.version)
        serverName = w.serverName
        modelID = w.modelID
        embeddingWidth = Int(w.embeddingWidth)
        encoderWidth = Int(w.encoderWidth)
        payloadFormats = w.payloadTypes.map(PayloadFormat.init)
        sampleRate = Int(w.sampleRate)
        samplesPerToken = Int(w.samplesPerToken)
        tokensPerSecond = Double(w.tokensPerSecond)
        blockTokens = Int(w.blockTokens)
        maxFrameLength = Int(w.maxFrameLength)
        maxPushedStreams = Int(w.maxPushedStreams)
        historyTokens = Int(w.historyTokens)
        streams = w.streams
    }
}

/// A live subscription, as the server confirmed it.
public struct Subscription: Sendable, Hashable {
    /// The id the server gave it on this connection; ``EmbeddingFrame/stream`` carries it.
    public let id: UInt32
    /// The live stream's name.
    public let name: String
    /// The index of the first token the server will send.
    public let firstToken: Int
    /// The payload format chosen at subscription.
    public let payload: PayloadFormat
    /// The output chosen at subscription (embeddings, width D, or encoder outputs, width P).
    public let kind: EmbeddingKind
}

/// A stream of the client's own audio, encoded privately for this connection.
public struct PushedStream: Sendable, Hashable {
    /// The id the server gave it on this connection; ``EmbeddingFrame/stream`` carries it.
    public let id: UInt32
    /// The audio layout declared at start.
    public let format: SampleFormat
    /// Frames per second of the pushed audio (the daemon resamples to 16 kHz).
    public let sampleRate: Int
    /// Interleaved channels of the pushed audio (the daemon averages them to mono).
    public let channels: Int
    /// The payload format chosen at start.
    public let payload: PayloadFormat
    /// The output chosen at start.
    public let kind: EmbeddingKind

    /// Bytes per frame (one sample per channel).
    public var frameBytes: Int { format.byteWidth * channels }
}

/// One token's values.
public struct EmbeddingFrame: Sendable, Equatable {
    /// The subscription or pushed stream id.
    public var stream: UInt32
    /// The token's index in its stream: 0, 1, 2, … A jump means frames were dropped (a ``EarshotEvent/Kind/lagged``
    /// event came first), or, with ``SpeechDelivery/speechOnly``, that the tokens between were not speech.
    public var token: Int
    /// The first of the token's samples on the stream's 16 kHz timeline.
    public var firstSample: Int
    /// When `firstSample` was captured (pushed audio: received), nanoseconds since the Unix epoch, server clock.
    public var captureTimeNanoseconds: Int64
    /// Discontinuity, silence, final, gap-filled, speech.
    public var flags: EmbeddingFlags
    /// How the values travelled (they are Float here either way).
    public var payload: PayloadFormat
    /// Embeddings (width D) or encoder outputs (width P).
    public var kind: EmbeddingKind
    /// The values, widened to Float (exact for f16 and bf16).
    public var values: [Float]

    /// The audio time of the token's start, in seconds from the stream's sample 0.
    public var audioTime: Double { Double(firstSample) / 16_000 }
}

/// Something that happened to a stream.
public struct EarshotEvent: Sendable, Equatable {
    /// What happened.
    public enum Kind: String, Sendable {
        /// The server fell behind on a live stream and discarded ``EarshotEvent/count`` samples from ``EarshotEvent/at``.
        case overrun
        /// The stream's device went away at sample ``EarshotEvent/at``; the server keeps reopening it.
        case deviceLost
        /// The device is back; ``EarshotEvent/message`` is its format.
        case deviceRestored
        /// This client read too slowly: ``EarshotEvent/count`` frames were dropped, the first being token
        /// ``EarshotEvent/at``.
        case lagged
        /// Audio was lost upstream: ``EarshotEvent/count`` samples from sample ``EarshotEvent/at``.
        case discontinuity
        /// The stream ended; ``EarshotEvent/count`` tokens were produced in all. Nothing more of it follows.
        case ended
        /// Speech starts at sample ``EarshotEvent/at`` (silero-vad `VADIterator`'s `start`). Only with a
        /// ``SpeechDelivery`` other than `.none`.
        case speechStart
        /// Speech ends at sample ``EarshotEvent/at`` (`VADIterator`'s `end`, or the segment's end when it ends
        /// inside speech). Only with a ``SpeechDelivery`` other than `.none`.
        case speechEnd
    }

    /// The subscription or pushed stream id.
    public var stream: UInt32
    /// What happened.
    public var kind: Kind
    /// A sample position (overrun, deviceLost, discontinuity, speechStart, speechEnd) or a token index (lagged); 0
    /// when unused.
    public var at: Int64
    /// Samples lost (overrun, discontinuity), frames dropped (lagged) or tokens produced (ended).
    public var count: UInt64
    /// Free text: a reason, a device format.
    public var message: String

    init(_ e: StreamEvent) {
        stream = e.stream
        switch e.kind {
        case .overrun: kind = .overrun
        case .deviceLost: kind = .deviceLost
        case .deviceRestored: kind = .deviceRestored
        case .lagged: kind = .lagged
        case .discontinuity: kind = .discontinuity
        case .ended: kind = .ended
        case .speechStart: kind = .speechStart
        case .speechEnd: kind = .speechEnd
        }
        at = e.at
        count = e.count
        message = e.message
    }
}

/// What arrives on a connection, in order.
public enum EarshotMessage: Sendable, Equatable {
    /// One token's values.
    case embedding(EmbeddingFrame)
    /// Something that happened to a stream (lag, device loss, its end, …).
    case event(EarshotEvent)
    /// A non-fatal error not tied to a request (for example audio pushed to a stream that has ended).
    case error(EarshotError)
}
