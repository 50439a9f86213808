import AudioCore
import Foundation
import Gemma4Audio
import Resampling

/// The committed reference fixtures (`Tests/Fixtures`, made by `tools/reference/make_fixtures.py` with
/// transformers on CPU).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    static func modelPath(_ name: String) -> String { "\(root)/models/\(name)" }

    static func model(_ name: String) throws -> Gemma4AudioModel {
        try Gemma4AudioModel.load(path: modelPath(name))
    }

    /// A case's audio as the encoder takes it: channels averaged, resampled to 16 kHz with best sinc.
    static func audio(_ caseName: String) throws -> [Float] {
        let (info, interleaved) = try WAV.read(path: "\(root)/cases/\(caseName)/input.wav")
        var mono: [Float] = []
        if info.channels == 1 { mono = interleaved } else {
            interleaved.withUnsafeBufferPointer { Downmix.toMono($0, channels: info.channels, into: &mono) }
        }
        return try Resampler.resample(mono, from: info.sampleRate, to: 16_000)
    }

    static func reference(_ caseName: String, _ file: String) throws -> FloatArray {
        try NPY.read(path: "\(root)/cases/\(caseName)/\(file)")
    }
}

/// Largest `|a[i] − b[i]|`; infinity when the lengths differ.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}

/// Feeds `samples` to a fresh stream in the given chunk sizes (cycled), encoding whenever a block is ready.
func encodeInChunks(_ model: Gemma4AudioModel, _ samples: [Float], chunks: [Int], blockTokens: Int,
                    threads: Int = 1) -> EncodedTokens {
    let stream = EncoderStream(model: model, blockTokens: blockTokens)
    let scratch = EncoderScratch(model: model, capacity: blockTokens, threads: threads)
    var result = EncodedTokens(firstToken: 0, encoderWidth: model.configuration.outputProjectionSize,
                               embeddingWidth: model.configuration.textHiddenSize)
    samples.withUnsafeBufferPointer { all in
        var offset = 0, index = 0
        while offset < all.count {
            let end = min(all.count, offset + chunks[index % chunks.count])
            stream.accept(UnsafeBufferPointer(rebasing: all[offset..<end]))
            model.drain([stream], scratch: scratch) { _, tokens in result.append(tokens) }
            offset = end
            index += 1
        }
    }
    stream.finish()
    model.drain([stream], scratch: scratch) { _, tokens in result.append(tokens) }
    return result
}
