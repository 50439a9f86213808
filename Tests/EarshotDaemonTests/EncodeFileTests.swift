import AudioCore
import EarshotCLI
import Foundation
import Frontend
import Gemma4Audio
import Resampling
import Testing

/// `earshot encode` reads its file as it encodes (bounded memory at any length), with the same bits as the
/// whole-file path it replaced; a file shorter than its header says is refused.
struct EncodeFileTests {
    /// The whole-file path `earshot encode` took before it streamed: read everything, average the channels,
    /// resample in one go.
    static func wholeFile(_ path: String) throws -> [Float] {
        let (info, interleaved) = try WAV.read(path: path)
        var mono: [Float] = []
        if info.channels == 1 {
            mono = interleaved
        } else {
            interleaved.withUnsafeBufferPointer { Downmix.toMono($0, channels: info.channels, into: &mono) }
        }
        return try Resampler.resample(mono, from: info.sampleRate, to: AudioInput.sampleRate)
    }

    /// Every stage of `earshot encode` on `path`, offline and streamed, against the whole-file path.
    func expectSameBitsAsWholeFile(_ path: String) throws {
        let samples = try Self.wholeFile(path)
        #expect(try AudioInput.loadMono16k(path: path) == samples)
        let model = try Gemma4AudioModel.load(path: Paths.model())
        let whole = model.encode(samples)
        let run = { (stage: EncodeCommand.Stage, streaming: Encoding.Streaming?) in
            try Encoding.run(modelPath: Paths.model(), inputPath: path, stage: stage, streaming: streaming).values
        }
        #expect(try run(.embeddings, nil) == whole.embeddings)
        #expect(try run(.encoder, nil) == whole.encoder)
        #expect(try run(.embeddings, .init(chunkSamples: 333, blockTokens: 5)) == whole.embeddings)
        #expect(try run(.mel, nil) == LogMelFrontend.logMel(of: samples))
    }

    @Test(arguments: ["stereo44k", "speech", "odd-length", "long24bit", "short"])
    func sameBitsAsTheWholeFilePath(caseName: String) throws {
        try expectSameBitsAsWholeFile(Paths.wav(caseName))
    }

    @Test func aLongFileIsReadInBoundedPieces() throws {
        // 20 s of 44.1 kHz stereo: 882,000 frames, 27 pieces of the file.
        let path = NSTemporaryDirectory() + "earshot-long-\(UUID().uuidString).wav"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let frames = 20 * 44_100
        let samples = (0..<2 * frames).map { (i: Int) -> Float in
            let phase = Double(i / 2) * 0.05 + Double(i % 2)
            return Float(sin(phase)) * 0.5
        }
        try WAV.write(path: path, samples: samples, sampleRate: 44_100, channels: 2)
        let reader = try Mono16kReader(path: path)
        var pieces = 0, largest = 0
        while let piece = try reader.next() {
            pieces += 1
            largest = max(largest, piece.count)
        }
        #expect(pieces >= 27)
        #expect(largest <= Mono16kReader.pieceFrames(channels: 2))   // 16 kHz out of 44.1 kHz in: fewer samples
        try expectSameBitsAsWholeFile(path)
    }

    @Test func aFileShorterThanItsHeaderSaysIsRefused() throws {
        let path = NSTemporaryDirectory() + "earshot-cut-\(UUID().uuidString).wav"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try WAV.write(path: path, samples: [Float](repeating: 0.25, count: 16_000), sampleRate: 16_000, channels: 1)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 44 + 20_000)
        try handle.close()
        let error = #expect(throws: AudioFileError.self) {
            try Encoding.run(modelPath: Paths.model(), inputPath: path, stage: .embeddings, streaming: nil)
        }
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("claims 32000 bytes but the file holds 20000") == true)
    }
}
