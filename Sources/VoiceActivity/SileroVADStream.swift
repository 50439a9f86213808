import Kernels

/// One window's result: its probability and the event it caused, on the stream's timeline.
public struct VADWindow: Sendable, Equatable {
    /// The window's index k within its stream: it covers samples `[origin + 512k, origin + 512k + 512)`.
    public let index: Int
    /// The window's first sample on the timeline: `origin + 512k`.
    public let startSample: Int
    /// The speech probability, in [0, 1].
    public let probability: Float
    /// The start or end of speech the tracker reported on this window, if any, on the timeline.
    public let event: SpeechEvent?

    /// One past the window's last sample.
    public var endSample: Int { startSample + SileroVADGeometry.windowSamples }
}

/// The state of one voice-activity stream: the 64 samples before the current window, the samples of the current
/// window received so far, the LSTM's h and c, and the event tracker. Fed 16 kHz mono samples in pieces of any
/// size — the same the encoder takes — it computes each window as soon as its 512th sample arrives; the results do
/// not depend on how the samples were cut (bit for bit). Constant size; nothing allocated per window.
///
/// Positions are on a timeline where the stream's first sample sits at `origin` (0 by default): a pipeline that
/// restarts its streams (a new segment after a gap in live audio) gives each new stream the segment's start. The
/// events themselves are `VADIterator`'s, computed on the stream's own samples and shifted by `origin`.
///
/// ```swift
/// let stream = SileroVADStream(weights: weights)
/// stream.accept(piece, scratch: scratch) { window in … window.probability, window.event … }
/// stream.finish(scratch: scratch) { window in … }   // the last partial window, zero-padded
/// ```
public final class SileroVADStream {
    public let weights: SileroVADWeights
    /// The timeline position of the stream's first sample.
    public let origin: Int
    /// Windows computed so far.
    public private(set) var windowCount = 0
    /// Samples accepted so far.
    public private(set) var sampleCount = 0
    /// `VADIterator`'s state for this stream (in speech or not, samples seen).
    public private(set) var events: SpeechEventTracker
    private let input: FloatBuffer    // (576,)  context 64, then the current window's first `pending` samples
    private var pending = 0
    private let hidden: FloatBuffer   // (128,)  LSTM h
    private let cell: FloatBuffer     // (128,)  LSTM c

    /// A stream whose first sample sits at `origin`, with zero context and zero LSTM state (silero-vad's
    /// `reset_states()`).
    public init(weights: SileroVADWeights, events: SpeechEventConfiguration = SpeechEventConfiguration(),
                origin: Int = 0) {
        self.weights = weights
        self.origin = origin
        self.events = SpeechEventTracker(configuration: events)
        input = FloatBuffer(count: SileroVADGeometry.inputSamples)
        hidden = FloatBuffer(count: SileroVADGeometry.hiddenSize)
        cell = FloatBuffer(count: SileroVADGeometry.hiddenSize)
    }

    /// Appends `samples` (16 kHz mono, nominally in [−1, 1]) and calls `body` with each window they complete, in
    /// order.
    public func accept(_ samples: UnsafeBufferPointer<Float>, scratch: SileroVADScratch,
                       _ body: (VADWindow) -> Void) {
        let g = SileroVADGeometry.self
        var offset = 0
        while offset < samples.count {
            let take = min(g.windowSamples - pending, samples.count - offset)
            (input.base + g.contextSamples + pending).update(from: samples.baseAddress! + offset, count: take)
            pending += take
            offset += take
            if pending == g.windowSamples { body(computeWindow(scratch: scratch)) }
        }
        sampleCount += samples.count
    }

    /// Ends the stream: a partial last window is zero-padded to 512 samples and computed, as silero-vad's
    /// callers pad it. Calls `body` with it; nothing when the samples filled whole windows.
    public func finish(scratch: SileroVADScratch, _ body: (VADWindow) -> Void) {
        guard pending > 0 else { return }
        let g = SileroVADGeometry.self
        (input.base + g.contextSamples + pending).update(repeating: 0, count: g.windowSamples - pending)
        body(computeWindow(scratch: scratch))
    }

    private func computeWindow(scratch: SileroVADScratch) -> VADWindow {
        let g = SileroVADGeometry.self
        scratch.signal.base.update(from: input.base, count: g.inputSamples)
        let probability = weights.probability(scratch: scratch, hidden: hidden.base, cell: cell.base)
        // The next window's context: this window's last 64 samples.
        input.base.update(from: input.base + g.windowSamples, count: g.contextSamples)
        pending = 0
        let event = events.push(probability: probability).map { event -> SpeechEvent in
            switch event {
            case .start(let sample): .start(origin + sample)
            case .end(let sample): .end(origin + sample)
            }
        }
        let window = VADWindow(index: windowCount, startSample: origin + windowCount * g.windowSamples,
                               probability: probability, event: event)
        windowCount += 1
        return window
    }
}
