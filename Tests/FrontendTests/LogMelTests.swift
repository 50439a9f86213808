import AudioCore
import Foundation
import Frontend
import Testing

/// The log-mel frontend against transformers' feature extractor, and its streaming invariants.
struct LogMelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/cases").path

    static func samples(_ caseName: String) throws -> [Float] {
        if caseName == "stereo44k" {   // the reference's own 16 kHz mono signal
            return try NPY.read(path: "\(root)/\(caseName)/resampled16k.npy").values
        }
        return try WAV.read(path: "\(root)/\(caseName)/input.wav").samples
    }

    @Test("valid frames match transformers",
          arguments: ["speech", "silence", "odd-length", "short", "stereo44k", "long24bit"])
    func parity(caseName: String) throws {
        let reference = try NPY.read(path: "\(Self.root)/\(caseName)/mel.npy")
        let frames = LogMelFrontend.logMel(of: try Self.samples(caseName))
        #expect(reference.shape == [frames.count / 128, 128])
        var worst: Float = 0
        for i in frames.indices { worst = max(worst, abs(frames[i] - reference.values[i])) }
        print("[mel] \(caseName): \(frames.count / 128) frames, max |Δ| = \(worst)")
        #expect(worst <= 1e-4)
    }

    @Test func validFrameRule() {
        #expect(LogMelFrontend.validFrames(forSamples: 160) == 0)
        #expect(LogMelFrontend.validFrames(forSamples: 161) == 1)
        #expect(LogMelFrontend.validFrames(forSamples: 320) == 1)
        #expect(LogMelFrontend.validFrames(forSamples: 321) == 2)
        #expect(LogMelFrontend.validFrames(forSamples: 160_000) == 999)   // 10 s, as transformers
        #expect(LogMelFrontend.validFrames(forSamples: 480_000) == 2_999)  // 30 s
    }

    @Test func channelZeroIsTheFloor() throws {
        let frames = LogMelFrontend.logMel(of: try Self.samples("speech"))
        for f in 0..<(frames.count / 128) { #expect(frames[f * 128] == Float(log(1e-3))) }
    }

    @Test("frames do not depend on chunking", arguments: [1, 7, 160, 161, 999, 4_096])
    func chunking(chunk: Int) throws {
        let audio = try Self.samples("odd-length")
        let whole = LogMelFrontend.logMel(of: audio)
        var frontend = LogMelFrontend()
        var frames: [Float] = []
        var offset = 0
        audio.withUnsafeBufferPointer { all in
            while offset < all.count {
                let end = min(all.count, offset + chunk)
                let range = frontend.accept(UnsafeBufferPointer(rebasing: all[offset..<end]), into: &frames)
                #expect(range.upperBound == LogMelFrontend.validFrames(forSamples: end))
                offset = end
            }
        }
        #expect(frames == whole)
        #expect(frontend.heldSampleCount <= 480)
    }
}
