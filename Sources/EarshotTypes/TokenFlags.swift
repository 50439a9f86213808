/// Token flags (the `flags` field of an `embedding` frame).
public struct TokenFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Audio is missing right before this token: it starts a new segment, or zeros stand in for lost audio.
    public static let discontinuity = TokenFlags(rawValue: 1 << 0)
    /// Every sample of the token's 40 ms is below one 16-bit step (|x| < 1/32768), or stands in for lost audio.
    public static let silence = TokenFlags(rawValue: 1 << 1)
    /// The last token of its segment, computed under the end-of-clip rule (the audio after it is unknown).
    public static let final = TokenFlags(rawValue: 1 << 2)
    /// Part of the token's audio is zeros inserted for audio lost upstream.
    public static let gapFilled = TokenFlags(rawValue: 1 << 3)
    /// The token's span overlaps speech as the voice-activity detector knew it when the token was sent: a closed
    /// speech segment `[start, end)`, or an open one `[start, …)` (docs/protocol.md, "Voice activity").
    public static let speech = TokenFlags(rawValue: 1 << 4)
}
