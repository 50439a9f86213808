import AudioCore
import Foundation
import VoiceActivity

/// The shipped Silero VAD weights and the committed reference fixtures (`Tests/Fixtures/vad`, made by
/// `tools/reference/make_vad_fixtures.py` with silero-vad's own JIT model and `VADIterator`).
enum VADFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let modelPath = "\(repository)/models/silero-vad/silero_vad_16k_v6.safetensors"
    static let root = "\(repository)/Tests/Fixtures/vad"
    static let cases = ["pauses", "noisy"]

    static func weights() throws -> SileroVADWeights { try SileroVADWeights(path: modelPath) }

    /// A case's audio: 16 kHz mono int16, scaled by 1/32768 as the reference scaled it.
    static func audio(_ name: String) throws -> [Float] {
        let (info, samples) = try WAV.read(path: "\(root)/\(name)/input.wav")
        precondition(info.channels == 1 && info.sampleRate == 16_000)
        return samples
    }

    /// The JIT model's probability per window.
    static func probabilities(_ name: String) throws -> [Float] {
        try NPY.read(path: "\(root)/\(name)/probs.npy").values
    }

    /// `VADIterator`'s events, one JSON object per line.
    static func events(_ name: String, file: String) throws -> [SpeechEvent] {
        let text = try String(contentsOfFile: "\(root)/\(name)/\(file)", encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Int]
            if let start = object["start"] { return .start(start) }
            return .end(object["end"]!)
        }
    }
}

/// Feeds `audio` to a fresh stream in pieces of `chunks` sizes (cycled), then finishes it; returns every window.
func runStream(_ weights: SileroVADWeights, _ audio: [Float], chunks: [Int],
               events: SpeechEventConfiguration = SpeechEventConfiguration()) -> [VADWindow] {
    let stream = SileroVADStream(weights: weights, events: events)
    let scratch = SileroVADScratch()
    var windows: [VADWindow] = []
    audio.withUnsafeBufferPointer { all in
        var offset = 0, piece = 0
        while offset < all.count {
            let end = min(all.count, offset + chunks[piece % chunks.count])
            stream.accept(UnsafeBufferPointer(rebasing: all[offset..<end]), scratch: scratch) { windows.append($0) }
            offset = end
            piece += 1
        }
    }
    stream.finish(scratch: scratch) { windows.append($0) }
    return windows
}
