import AudioCore
import Foundation
import Testing

/// WAV reading and writing: every sample format, exact values, header variants and broken files.
struct WAVTests {
    let directory: String = {
        let path = NSTemporaryDirectory() + "earshot-wav-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// A canonical 44-byte header followed by `data`.
    func wavBytes(tag: UInt16, channels: UInt16, rate: UInt32, bits: UInt16, data: [UInt8]) -> [UInt8] {
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
        let align = channels * bits / 8
        return Array("RIFF".utf8) + le32(UInt32(36 + data.count)) + Array("WAVE".utf8) + Array("fmt ".utf8)
            + le32(16) + le16(tag) + le16(channels) + le32(rate) + le32(rate * UInt32(align)) + le16(align)
            + le16(bits) + Array("data".utf8) + le32(UInt32(data.count)) + data
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func int16ExactValues() throws {
        // -32768, -1, 0, 1, 32767 as little-endian int16
        let path = try write("a.wav", wavBytes(tag: 1, channels: 1, rate: 16_000, bits: 16,
                                               data: [0x00, 0x80, 0xFF, 0xFF, 0, 0, 1, 0, 0xFF, 0x7F]))
        let (info, samples) = try WAV.read(path: path)
        #expect(info == WAVInfo(sampleRate: 16_000, channels: 1, sampleFormat: .s16le, frameCount: 5))
        let expected: [Float] = [-1, -1.0 / 32768, 0, 1.0 / 32768, 32767.0 / 32768]
        #expect(samples == expected)
    }

    @Test func int24AndInt32AndFloat() throws {
        let int24 = try write("b.wav", wavBytes(tag: 1, channels: 1, rate: 8_000, bits: 24,
                                                data: [0x00, 0x00, 0x80, 0xFF, 0xFF, 0x7F, 0x01, 0x00, 0x00]))
        let expected24: [Float] = [-1, 8_388_607.0 / 8_388_608, 1.0 / 8_388_608]
        #expect(try WAV.read(path: int24).samples == expected24)
        let int32 = try write("c.wav", wavBytes(tag: 1, channels: 1, rate: 8_000, bits: 32,
                                                data: [0, 0, 0, 0x80, 0, 0, 0, 0x40]))
        #expect(try WAV.read(path: int32).samples == [-1, 0.5])
        let floats: [Float] = [0.25, -0.75]
        let bytes = floats.flatMap { f in (0..<4).map { UInt8(f.bitPattern >> (8 * $0) & 0xFF) } }
        let float32 = try write("d.wav", wavBytes(tag: 3, channels: 1, rate: 8_000, bits: 32, data: bytes))
        #expect(try WAV.read(path: float32).samples == floats)
    }

    @Test func stereoIsInterleaved() throws {
        let path = try write("e.wav", wavBytes(tag: 1, channels: 2, rate: 44_100, bits: 16,
                                               data: [0, 0x40, 0, 0xC0, 0, 0x20, 0, 0xE0]))
        let (info, samples) = try WAV.read(path: path)
        #expect(info.channels == 2 && info.frameCount == 2 && info.sampleRate == 44_100)
        #expect(samples == [0.5, -0.5, 0.25, -0.25])
    }

    @Test("write then read gives the values back", arguments: [PCMSampleFormat.s16le, .s24le, .s32le, .f32le, .f64le])
    func roundTrip(format: PCMSampleFormat) throws {
        let samples: [Float] = (0..<999).map { i -> Float in Float(sin(Double(i) * 0.01)) * 0.9 }
        let path = directory + "/rt-\(format).wav"
        try WAV.write(path: path, samples: samples, sampleRate: 16_000, channels: 1, format: format)
        let (info, back) = try WAV.read(path: path)
        #expect(info.sampleFormat == format && info.frameCount == 999)
        let step: Float
        switch format {
        case .s16le: step = 1.0 / 32768
        case .s24le: step = 1.0 / 8_388_608
        default: step = 1e-9
        }
        var worst: Float = 0
        for (a, b) in zip(samples, back) { worst = max(worst, abs(a - b)) }
        #expect(worst <= step / 2 + 1e-9)
    }

    @Test("integer formats saturate any float, NaN giving 0", arguments: [PCMSampleFormat.u8, .s16le, .s24le,
                                                                          .s32le])
    func outOfRangeFloatsSaturate(format: PCMSampleFormat) throws {
        let samples: [Float] = [3e38, -3e38, .infinity, -.infinity, .nan, 1, -1, 0.5, .greatestFiniteMagnitude]
        let path = directory + "/sat-\(format).wav"
        try WAV.write(path: path, samples: samples, sampleRate: 16_000, channels: 1, format: format)
        let full = Float(Double(sign: .plus, exponent: 8 * format.byteWidth - 1, significand: 1))
        let top = Float((Double(full) - 1) / Double(full))
        #expect(try WAV.read(path: path).samples == [top, -1, top, -1, 0, top, -1, 0.5, top])
    }

    @Test func quantizationRoundsToNearestAndSaturates() {
        #expect(PCMQuantization.quantize(0.5, bits: 16) == 16_384)
        #expect(PCMQuantization.quantize(1.5 / 32768, bits: 16) == 2)       // ties away from zero
        #expect(PCMQuantization.quantize(-1, bits: 16) == -32_768)
        #expect(PCMQuantization.quantize(1, bits: 32) == .max)
        #expect(PCMQuantization.quantize(-3e38, bits: 32) == .min)
        #expect(PCMQuantization.quantize(.nan, bits: 24) == 0)
        #expect(PCMQuantization.quantize(.infinity, bits: 8) == 127)
    }

    @Test func incrementalReads() throws {
        let samples: [Float] = (0..<1000).map { i -> Float in Float(i % 200 - 100) / 128 }
        let path = directory + "/inc.wav"
        try WAV.write(path: path, samples: samples, sampleRate: 16_000, channels: 2, format: .s16le)
        let reader = try WAVReader(path: path)
        var back: [Float] = []
        while case let chunk = try reader.read(maxFrames: 37), !chunk.isEmpty { back += chunk }
        #expect(back == samples)
    }

    @Test func truncatedDataChunkIsReported() throws {
        var bytes = wavBytes(tag: 1, channels: 1, rate: 16_000, bits: 16, data: [1, 0, 2, 0, 3, 0])
        bytes.removeLast(1)   // the declared size now runs past the end of the file
        let path = try write("t.wav", bytes)
        let error = #expect(throws: AudioFileError.self) { try WAVReader(path: path) }
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("claims 6 bytes but the file holds 5") == true)
    }

    @Test func unknownDataSizeReadsToTheEndOfTheFile() throws {
        var bytes = wavBytes(tag: 1, channels: 1, rate: 16_000, bits: 16, data: [1, 0, 2, 0, 3])
        bytes.replaceSubrange(40..<44, with: [0xFF, 0xFF, 0xFF, 0xFF])   // a header written for a pipe
        let (info, samples) = try WAV.read(path: try write("pipe.wav", bytes))
        #expect(info.frameCount == 2)
        let expected: [Float] = [1.0 / 32768, 2.0 / 32768]
        #expect(samples == expected)
    }

    @Test func extensibleFormat() throws {
        // WAVE_FORMAT_EXTENSIBLE (0xFFFE) with a PCM sub-format.
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
        let fmt = le16(0xFFFE) + le16(1) + le32(16_000) + le32(32_000) + le16(2) + le16(16) + le16(22) + le16(16)
            + le32(4) + le16(1) + [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]
        let data: [UInt8] = [0, 0x40]
        let bytes = Array("RIFF".utf8) + le32(UInt32(4 + 8 + fmt.count + 8 + data.count)) + Array("WAVE".utf8)
            + Array("fmt ".utf8) + le32(UInt32(fmt.count)) + fmt + Array("data".utf8) + le32(2) + data
        #expect(try WAV.read(path: try write("x.wav", bytes)).samples == [0.5])
    }

    @Test("broken files give errors that name the problem", arguments: [
        ([UInt8](), "empty file"),
        (Array("hello, this is not audio at all".utf8), "not a WAV file"),
        (Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WAVE".utf8), "no fmt chunk"),
    ])
    func brokenFiles(bytes: [UInt8], message: String) throws {
        let path = try write("broken.wav", bytes)
        let error = #expect(throws: AudioFileError.self) { try WAV.read(path: path) }
        #expect(error?.description.contains(message) == true)
        #expect(error?.description.contains(path) == true)
    }

    @Test func unsupportedEncodingIsNamed() throws {
        let path = try write("alaw.wav", wavBytes(tag: 6, channels: 1, rate: 8_000, bits: 8, data: [1, 2]))
        let error = #expect(throws: AudioFileError.self) { try WAV.read(path: path) }
        #expect(error?.description.contains("format tag 6") == true)
    }

    @Test func missingFile() {
        #expect(throws: AudioFileError.self) { try WAV.read(path: "/nonexistent/earshot.wav") }
    }
}
