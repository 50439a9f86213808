import Testing
import VoiceActivity

/// Earshot's Silero VAD against silero-vad 6.2.3 itself: its JIT model called window by window, and its
/// `VADIterator`.
struct SileroVADParityTests {
    @Test("probabilities within 1e-4 of silero-vad's JIT model", arguments: VADFixtures.cases)
    func probabilities(caseName: String) throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio(caseName)
        let reference = try VADFixtures.probabilities(caseName)
        let windows = runStream(weights, audio, chunks: [512])
        #expect(windows.count == reference.count)
        #expect(windows.count == (audio.count + 511) / 512)
        var worst: Float = 0
        for (window, expected) in zip(windows, reference) { worst = max(worst, abs(window.probability - expected)) }
        print("[vad] \(caseName): \(windows.count) windows, max |Δp| = \(worst)")
        #expect(worst <= 1e-4)
    }

    @Test("events equal VADIterator's (defaults, and threshold 0.3 / min silence 250 ms / pad 50 ms)",
          arguments: VADFixtures.cases)
    func events(caseName: String) throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio(caseName)
        let settings: [(String, SpeechEventConfiguration)] = [
            ("events.jsonl", SpeechEventConfiguration()),
            ("events_custom.jsonl", SpeechEventConfiguration(threshold: 0.3, minSilenceMs: 250, speechPadMs: 50)),
        ]
        for (file, configuration) in settings {
            let expected = try VADFixtures.events(caseName, file: file)
            let events = runStream(weights, audio, chunks: [512], events: configuration).compactMap(\.event)
            print("[vad] \(caseName) \(file): \(events.count) events")
            #expect(!expected.isEmpty)
            #expect(events == expected)
        }
    }
}
