/// One stream's Echo windows: samples accumulate until a whole window (`ctx · 160` samples) is there, which is then
/// encoded whole; after `finish`, the last, partial window is encoded zero-padded to a whole one, as the feature
/// extractor pads. A window's rows therefore leave only once its last sample has arrived: the live latency is one
/// window (15 s at the seed's ctx 1500), the price of a model that is not causal.
///
/// Accepting only buffers; ``encodeNextWindow(scratch:into:)`` does the work, so whoever schedules the compute
/// (the daemon's compute threads, `earshot encode`) decides when.
public final class EchoWindowStream {
    public let model: EchoModel
    /// The input each window is encoded from.
    public let inputs: EchoInputs
    private var pending: [Float] = []    // (·,) samples not yet encoded, from `pendingStart`
    private var pendingStart = 0         // where the next window starts in `pending`
    /// Windows encoded so far; the next window's first row has index `windowsEncoded · ctx`.
    public private(set) var windowsEncoded = 0
    /// Samples accepted.
    public private(set) var samplesReceived = 0
    public private(set) var isFinished = false

    public init(model: EchoModel, inputs: EchoInputs? = nil) {
        self.model = model
        self.inputs = inputs ?? model.configuration.defaultInputs
        pending.reserveCapacity(model.configuration.frontend.windowSamples)
    }

    private var windowSamples: Int { model.configuration.frontend.windowSamples }
    /// Samples waiting for their window to be encoded.
    public var pendingSampleCount: Int { pending.count - pendingStart }
    /// Whole windows waiting, and after `finish` the partial last one.
    public var readyWindowCount: Int {
        let whole = pendingSampleCount / windowSamples
        return whole + (isFinished && pendingSampleCount % windowSamples > 0 ? 1 : 0)
    }

    /// Accepts 16 kHz samples (buffered until their window is complete).
    public func accept(_ samples: UnsafeBufferPointer<Float>) {
        precondition(!isFinished, "accept(_:) after finish()")
        samplesReceived += samples.count
        pending.append(contentsOf: samples)
    }

    /// No more samples: a partial window, if any samples are pending, becomes ready (it is encoded zero-padded). A
    /// stream that received nothing yields nothing.
    public func finish() {
        isFinished = true
    }

    /// Encodes the next ready window (there must be one) into `out`, `(ctx, dims)`.
    public func encodeNextWindow(scratch: EchoScratch, into out: UnsafeMutablePointer<Float>) {
        precondition(readyWindowCount > 0, "no window is ready")
        let count = min(windowSamples, pendingSampleCount)
        pending.withUnsafeBufferPointer { all in
            model.encodeWindow(UnsafeBufferPointer(rebasing: all[pendingStart..<pendingStart + count]),
                               inputs: inputs, scratch: scratch, into: out)
        }
        pendingStart += count
        windowsEncoded += 1
        // Shift the rest down once a window's worth has been used, so `pending` stays about a window long.
        if pendingStart >= windowSamples || pendingStart == pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }

    /// Forgets everything: the next sample accepted is sample 0 of a new stream.
    public func reset() {
        pending.removeAll(keepingCapacity: true)
        pendingStart = 0
        windowsEncoded = 0
        samplesReceived = 0
        isFinished = false
    }

    // MARK: Offline

    /// Accepts samples and appends the rows of every window they complete to `rows` (`ctx · dims` floats per window).
    public func accept(_ samples: UnsafeBufferPointer<Float>, scratch: EchoScratch, into rows: inout [Float]) {
        accept(samples)
        encodeReady(scratch: scratch, into: &rows)
    }

    /// Finishes, and appends the rows of the partial last window, if any samples are pending.
    public func finish(scratch: EchoScratch, into rows: inout [Float]) {
        finish()
        encodeReady(scratch: scratch, into: &rows)
    }

    private func encodeReady(scratch: EchoScratch, into rows: inout [Float]) {
        let c = model.configuration
        while readyWindowCount > 0 {
            let start = rows.count
            rows.append(contentsOf: repeatElement(0, count: c.context * c.width))
            rows.withUnsafeMutableBufferPointer { encodeNextWindow(scratch: scratch, into: $0.baseAddress! + start) }
        }
    }
}
