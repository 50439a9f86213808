/// The opening exchange (docs/protocol.md, "Handshake"): the client's first frame is `hello`, the server answers
/// `welcome` (or an `error` and closes). Nothing else may come before.
package enum Handshake {
    /// The four bytes that open every `hello` body: "EARS".
    package static let magic: [UInt8] = Array("EARS".utf8)
    /// Protocol versions this build speaks.
    package static let supportedVersions: ClosedRange<UInt16> = 1...1
    /// The version this build prefers (the newest it speaks).
    package static var currentVersion: UInt16 { supportedVersions.upperBound }

    /// The version to speak with a peer offering `offered`: the newest both know.
    package static func negotiate(_ offered: ClosedRange<UInt16>,
                                  supported: ClosedRange<UInt16> = supportedVersions) throws(ProtocolError) -> UInt16 {
        let low = max(offered.lowerBound, supported.lowerBound)
        let high = min(offered.upperBound, supported.upperBound)
        guard low <= high else {
            throw ProtocolError(.unsupportedVersion,
                                "client speaks protocol versions \(offered.lowerBound)…\(offered.upperBound), "
                                + "server speaks \(supported.lowerBound)…\(supported.upperBound)")
        }
        return high
    }
}

/// Client → server, first frame: who is calling and which versions it speaks.
package struct Hello: Sendable, Equatable {
    package var versions: ClosedRange<UInt16>
    /// Free text for the server's logs, e.g. "earshot listen 0.1".
    package var clientName: String

    package init(versions: ClosedRange<UInt16> = Handshake.supportedVersions, clientName: String) {
        self.versions = versions
        self.clientName = clientName
    }
}

/// Server → client, the answer to `hello`: everything a client needs to read what follows.
package struct Welcome: Sendable, Equatable {
    /// The protocol version chosen for this connection.
    package var version: UInt16
    /// Free text, e.g. "earshotd 0.3.0".
    package var serverName: String
    /// Identifies the loaded model (its path or hub name, and the configuration that matters).
    package var modelID: String
    /// D: the language model's hidden size, the width of `embeddings` outputs.
    package var embeddingWidth: UInt32
    /// P: `output_proj_dims`, the width of `encoder` outputs.
    package var encoderWidth: UInt32
    /// Payload types the server can send.
    package var payloadTypes: [PayloadType]
    /// Audio rate on the token timeline (16000).
    package var sampleRate: UInt32
    /// Samples per token (640): token t of a segment covers `[firstSample, firstSample + 640)`.
    package var samplesPerToken: UInt32
    /// Tokens per second of audio (sampleRate / samplesPerToken = 25).
    package var tokensPerSecond: Float
    /// Tokens per encoder pass: a token may wait for up to `blockTokens − 1` later ones.
    package var blockTokens: UInt16
    /// The largest frame `length` the server accepts from this client.
    package var maxFrameLength: UInt32
    /// Streams this connection may push at once.
    package var maxPushedStreams: UInt16
    /// Tokens each live stream keeps for subscribers starting from the oldest.
    package var historyTokens: UInt32
    /// Names of the live streams, e.g. ["mic"].
    package var streams: [String]

    package init(version: UInt16, serverName: String, modelID: String, embeddingWidth: UInt32, encoderWidth: UInt32,
                 payloadTypes: [PayloadType], sampleRate: UInt32, samplesPerToken: UInt32, tokensPerSecond: Float,
                 blockTokens: UInt16, maxFrameLength: UInt32, maxPushedStreams: UInt16, historyTokens: UInt32,
                 streams: [String]) {
        self.version = version
        self.serverName = serverName
        self.modelID = modelID
        self.embeddingWidth = embeddingWidth
        self.encoderWidth = encoderWidth
        self.payloadTypes = payloadTypes
        self.sampleRate = sampleRate
        self.samplesPerToken = samplesPerToken
        self.tokensPerSecond = tokensPerSecond
        self.blockTokens = blockTokens
        self.maxFrameLength = maxFrameLength
        self.maxPushedStreams = maxPushedStreams
        self.historyTokens = historyTokens
        self.streams = streams
    }

    /// Width of a stream's values for `output`.
    package func width(of output: OutputKind) -> Int {
        Int(output == .embeddings ? embeddingWidth : encoderWidth)
    }
}
