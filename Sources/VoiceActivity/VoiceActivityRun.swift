/// Voice activity over a whole signal at once: what `earshot vad` prints, and the reference the daemon's streamed
/// voice activity is tested against.
public enum VoiceActivityRun {
    /// Every window's probability and every event of one stream fed `samples` (16 kHz mono) whole, then finished.
    public static func run(weights: SileroVADWeights, samples: [Float],
                           events configuration: SpeechEventConfiguration)
        -> (probabilities: [Float], events: [SpeechEvent]) {
        let stream = SileroVADStream(weights: weights, events: configuration)
        let scratch = SileroVADScratch()
        var probabilities: [Float] = [], events: [SpeechEvent] = []
        func collect(_ window: VADWindow) {
            probabilities.append(window.probability)
            if let event = window.event { events.append(event) }
        }
        samples.withUnsafeBufferPointer { stream.accept($0, scratch: scratch, collect) }
        stream.finish(scratch: scratch, collect)
        return (probabilities, events)
    }
}
