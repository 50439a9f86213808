/// Which encoder output a subscription or pushed stream carries.
public enum OutputKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// `embed_audio` rows, width D: what Gemma 4 feeds its language model (the default).
    case embeddings = 0
    /// `audio_tower` `output_proj` rows (`last_hidden_state`), width P.
    case encoder = 1

    public var description: String { self == .embeddings ? "embeddings" : "encoder" }
}
