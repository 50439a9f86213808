/// Where an encoder pass spends its time, stage by stage (for `earshot bench`). Off unless a scratch is given one.
public struct PassProfile: Sendable {
    public enum Stage: String, CaseIterable, Sendable {
        case subsampling = "SSCP (log-mel → tokens, incl. input_proj)"
        case feedForward = "feed-forward GEMMs + SiLU + norms"
        case attentionProjections = "attention q/k/v/post GEMMs + norms"
        case attentionCore = "attention scores, softmax, weighted sum"
        case lightConv = "light conv GEMMs + GLU + depthwise conv"
        case output = "output_proj + embedder"
    }

    /// Seconds per stage.
    public private(set) var seconds: [Stage: Double] = [:]

    public init() {}

    mutating func add(_ stage: Stage, since start: ContinuousClock.Instant) {
        add(stage, seconds: (ContinuousClock.now - start).seconds)
    }

    /// Adds time measured outside a pass (the SSCP convolutions run as audio is accepted).
    public mutating func add(_ stage: Stage, seconds elapsed: Double) {
        seconds[stage, default: 0] += elapsed
    }

    public var total: Double { seconds.values.reduce(0, +) }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
