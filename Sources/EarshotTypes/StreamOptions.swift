/// Where a subscription starts.
public enum StartPoint: UInt8, Sendable, CaseIterable {
    /// With the next token encoded.
    case now = 0
    /// With the oldest token the stream still holds (up to `historyTokens` back), then live.
    case oldest = 1
}

/// What a subscription or pushed stream receives besides every token: the optional trailing `options` byte of
/// `subscribe` and `pushStart`. A body without the byte means no options (the v1 layout before voice activity), so
/// older clients' bodies parse unchanged; the byte is written only when some option is set (a present 0 is
/// malformed: each body has one encoding), so bodies without options still parse on older servers.
public struct StreamOptions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Send `speechStart` and `speechEnd` events (clients that do not ask never see these event kinds).
    public static let speechEvents = StreamOptions(rawValue: 1 << 0)
    /// Send only tokens flagged `speech` (token indices then skip), plus the speech events.
    public static let speechOnly = StreamOptions(rawValue: 1 << 1)

    /// Every option this build knows; other bits are malformed.
    public static let known: StreamOptions = [.speechEvents, .speechOnly]

    /// Speech events are wanted (asked for, or implied by `speechOnly`).
    public var wantsSpeechEvents: Bool { !isDisjoint(with: [.speechEvents, .speechOnly]) }

    /// Whether a receiver with these options gets an event of `kind`.
    public func receives(_ kind: EventKind) -> Bool {
        kind != .speechStart && kind != .speechEnd || wantsSpeechEvents
    }

    /// Whether a receiver with these options gets a token with `flags`.
    public func receives(_ flags: TokenFlags) -> Bool { !contains(.speechOnly) || flags.contains(.speech) }
}
