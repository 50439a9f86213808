/// One stream's pending Echo window: samples accumulate until a whole window (`ctx · 160` samples) is there, which
/// is then encoded whole; `finish` encodes the last, partial window zero-padded to a whole one, as the feature
/// extractor pads. A window's rows therefore leave only once its last sample has arrived: the live latency is one
/// window (15 s at the seed's ctx 1500), the price of a model that is not causal.
public final class EchoWindowStream {
    public let model: EchoModel
    /// The input each window is encoded from.
    public let inputs: EchoInputs
    private var pending: [Float] = []
    /// Windows encoded so far; the next window's first row has index `windowsEncoded · ctx`.
    public private(set) var windowsEncoded = 0
    /// Samples accepted.
    public private(set) var samplesReceived = 0

    public init(model: EchoModel, inputs: EchoInputs? = nil) {
        self.model = model
        self.inputs = inputs ?? model.configuration.defaultInputs
        pending.reserveCapacity(model.configuration.frontend.windowSamples)
    }

    /// Accepts 16 kHz samples and appends the rows of every window they complete to `rows` (`ctx · dims` floats
    /// per window).
    public func accept(_ samples: UnsafeBufferPointer<Float>, scratch: EchoScratch, into rows: inout [Float]) throws {
        let window = model.configuration.frontend.windowSamples
        samplesReceived += samples.count
        var offset = 0
        while offset < samples.count {
            let take = min(window - pending.count, samples.count - offset)
            pending.append(contentsOf: UnsafeBufferPointer(rebasing: samples[offset..<offset + take]))
            offset += take
            if pending.count == window { try encodePending(scratch: scratch, into: &rows) }
        }
    }

    /// Encodes the partial window, if any samples are pending (zero-padded to a whole window), and appends its rows.
    /// A stream that received nothing yields nothing.
    public func finish(scratch: EchoScratch, into rows: inout [Float]) throws {
        if !pending.isEmpty { try encodePending(scratch: scratch, into: &rows) }
    }

    private func encodePending(scratch: EchoScratch, into rows: inout [Float]) throws {
        let c = model.configuration
        let start = rows.count
        rows.append(contentsOf: repeatElement(0, count: c.context * c.width))
        try rows.withUnsafeMutableBufferPointer { all in
            try pending.withUnsafeBufferPointer { samples in
                try model.encodeWindow(samples, inputs: inputs, scratch: scratch, into: all.baseAddress! + start)
            }
        }
        pending.removeAll(keepingCapacity: true)
        windowsEncoded += 1
    }
}
