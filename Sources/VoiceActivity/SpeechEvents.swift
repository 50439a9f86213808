/// Where speech starts or ends, at a sample index of the stream's 16 kHz timeline (sample 0 is the first sample the
/// stream was fed).
public enum SpeechEvent: Sendable, Equatable {
    case start(Int)
    case end(Int)

    /// The event as silero-vad's `VADIterator` returns it, as one JSON object: `{"start": N}` or `{"end": N}`.
    public var json: String {
        switch self {
        case .start(let sample): "{\"start\": \(sample)}"
        case .end(let sample): "{\"end\": \(sample)}"
        }
    }
}

/// The settings of silero-vad's `VADIterator`, with its defaults.
public struct SpeechEventConfiguration: Sendable, Equatable {
    /// A window with probability ≥ `threshold` is speech.
    public var threshold: Double = 0.5
    /// After speech, this much audio below `threshold − 0.15` ends it.
    public var minSilenceMs: Int = 100
    /// A start is reported this much before the window that crossed the threshold, an end this much after.
    public var speechPadMs: Int = 30

    public init(threshold: Double = 0.5, minSilenceMs: Int = 100, speechPadMs: Int = 30) {
        self.threshold = threshold
        self.minSilenceMs = minSilenceMs
        self.speechPadMs = speechPadMs
    }

    /// Probabilities below this, after speech, count as silence (`VADIterator`: `threshold - 0.15`).
    public var negativeThreshold: Double { threshold - 0.15 }
    /// `sampling_rate * min_silence_duration_ms / 1000`, a Python float.
    var minSilenceSamples: Double { Double(SileroVADGeometry.sampleRate * minSilenceMs) / 1000 }
    /// `sampling_rate * speech_pad_ms / 1000`.
    var speechPadSamples: Double { Double(SileroVADGeometry.sampleRate * speechPadMs) / 1000 }
}

/// silero-vad 6.2.3's `VADIterator.__call__` as a state machine over window probabilities: the same comparisons
/// (in double precision, as Python compares the probability's float32 value), the same `temp_end` bookkeeping and
/// the same positions, truncated to integers as `int()` does.
public struct SpeechEventTracker: Sendable {
    public let configuration: SpeechEventConfiguration
    /// Inside speech: a start was reported and its end not yet.
    public private(set) var triggered = false
    /// The end of the first window of the current silence run after speech; 0 when there is none.
    private var tempEnd = 0
    /// Samples seen so far (`current_sample`).
    public private(set) var currentSample = 0

    public init(configuration: SpeechEventConfiguration = SpeechEventConfiguration()) {
        self.configuration = configuration
    }

    /// Takes the probability of the next window of `windowSamples` samples; returns the event it causes, if any.
    public mutating func push(probability: Float, windowSamples: Int = SileroVADGeometry.windowSamples)
        -> SpeechEvent? {
        let p = Double(probability), c = configuration
        currentSample += windowSamples
        if p >= c.threshold && tempEnd != 0 { tempEnd = 0 }
        if p >= c.threshold && !triggered {
            triggered = true
            let start = max(0, Double(currentSample) - c.speechPadSamples - Double(windowSamples))
            return .start(Int(start))
        }
        if p < c.negativeThreshold && triggered {
            if tempEnd == 0 { tempEnd = currentSample }
            if Double(currentSample - tempEnd) < c.minSilenceSamples { return nil }
            let end = Double(tempEnd) + c.speechPadSamples - Double(windowSamples)
            tempEnd = 0
            triggered = false
            return .end(Int(end))
        }
        return nil
    }
}
