import Foundation
import Testing
import VoiceActivity

/// What `earshot vad` runs: the whole-file run and where the default weights are looked for.
struct VoiceActivityRunTests {
    @Test("a whole-file run gives the stream's probabilities and VADIterator's events")
    func wholeFile() throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio("noisy")
        let result = VoiceActivityRun.run(weights: weights, samples: audio, events: SpeechEventConfiguration())
        #expect(result.probabilities == runStream(weights, audio, chunks: [512]).map(\.probability))
        #expect(result.events == (try VADFixtures.events("noisy", file: "events.jsonl")))
        #expect(result.events.first?.json == "{\"start\": 7712}")
        #expect(result.events.last?.json == "{\"end\": 99296}")
    }

    @Test("default weights: $EARSHOT_VAD_MODEL alone, else share/earshot beside bin, else models/ above the executable")
    func candidates() {
        let executable = URL(fileURLWithPath: "/opt/earshot/.build/release/earshot")
        #expect(VADModelLocation.candidates(executable: executable, environment: ["EARSHOT_VAD_MODEL": "/w.st"])
                == ["/w.st"])
        #expect(VADModelLocation.candidates(executable: executable, environment: [:]) == [
            "/opt/earshot/.build/share/earshot/silero-vad/silero_vad_16k_v6.safetensors",
            "/opt/earshot/.build/release/models/silero-vad/silero_vad_16k_v6.safetensors",
            "/opt/earshot/.build/models/silero-vad/silero_vad_16k_v6.safetensors",
            "/opt/earshot/models/silero-vad/silero_vad_16k_v6.safetensors",
            "/opt/models/silero-vad/silero_vad_16k_v6.safetensors",
            "/models/silero-vad/silero_vad_16k_v6.safetensors",
            "/usr/local/share/earshot/silero-vad/silero_vad_16k_v6.safetensors",
            "/usr/share/earshot/silero-vad/silero_vad_16k_v6.safetensors",
        ])
        // Installed in /usr/bin (the Debian package): its own prefix first, and once.
        let installed = VADModelLocation.candidates(executable: URL(fileURLWithPath: "/usr/bin/earshotd"),
                                                    environment: [:])
        #expect(installed.first == "/usr/share/earshot/silero-vad/silero_vad_16k_v6.safetensors")
        #expect(installed.count == Set(installed).count)
    }

    @Test("the shipped file is found from this build's executable directory")
    func shippedFileFound() {
        let executable = Bundle.main.bundleURL.appendingPathComponent("earshot")
        let found = VADModelLocation.candidates(executable: executable, environment: [:])
            .first { FileManager.default.fileExists(atPath: $0) }
        #expect(found.map { URL(fileURLWithPath: $0).standardized.path }
                == URL(fileURLWithPath: VADFixtures.modelPath).standardized.path)
    }
}
