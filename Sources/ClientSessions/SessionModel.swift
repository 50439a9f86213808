import EarshotTypes

/// The model's fixed facts, as the socket's `welcome` and gRPC's `started` give them.
package struct SessionModel: Sendable, Equatable {
    /// The model's name in status and logs.
    package var id: String
    /// `D`: the width of `embeddings` (the language model's hidden size).
    package var embeddingWidth: Int
    /// `P`: the width of `encoder` (`output_proj_dims`).
    package var encoderWidth: Int
    /// 16 kHz samples per token (Gemma 4: 640; Echo: 160).
    package var samplesPerToken: Int
    /// The payload types offered.
    package var payloads: Set<PayloadType>
    /// Whether voice activity runs (speech options are refused without it).
    package var voiceActivity: Bool

    package init(id: String, embeddingWidth: Int, encoderWidth: Int, samplesPerToken: Int,
                 payloads: Set<PayloadType> = Set(PayloadType.allCases), voiceActivity: Bool) {
        self.id = id
        self.embeddingWidth = embeddingWidth
        self.samplesPerToken = samplesPerToken
        self.encoderWidth = encoderWidth
        self.payloads = payloads
        self.voiceActivity = voiceActivity
    }

    /// `D` or `P`.
    package func width(of output: OutputKind) -> Int { output == .embeddings ? embeddingWidth : encoderWidth }
}
