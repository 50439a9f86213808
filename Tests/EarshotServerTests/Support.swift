import AudioCore
import Foundation
import Gemma4Audio

/// Paths of the committed fixtures.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    /// 16 kHz mono samples of a fixture case.
    static func samples(_ name: String) throws -> [Float] {
        let (info, samples) = try WAV.read(path: "\(root)/cases/\(name)/input.wav")
        precondition(info.sampleRate == 16_000 && info.channels == 1, "\(name) is not 16 kHz mono")
        return samples
    }

    static let tiny: Gemma4AudioModel = try! Gemma4AudioModel.load(path: "\(root)/models/tiny-f32")
}
