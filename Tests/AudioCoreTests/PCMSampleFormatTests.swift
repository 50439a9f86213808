import AudioCore
import Testing

@Suite struct PCMSampleFormatTests {
    private func decoded(_ format: PCMSampleFormat, _ bytes: [UInt8]) -> [Float] {
        var out: [Float] = [42]   // decoding appends
        bytes.withUnsafeBytes { format.decode($0, appendingTo: &out) }
        #expect(out.first == 42)
        return Array(out.dropFirst())
    }

    @Test func decodesEachFormatExactly() {
        #expect(decoded(.u8, [0, 128, 255, 192]) == [-1, 0, 127 / 128, 0.5])
        #expect(decoded(.s16le, [0x00, 0x80, 0xFF, 0x7F, 0x00, 0x40]) == [-1, 32767 / 32768, 0.5])
        #expect(decoded(.s24le, [0x00, 0x00, 0x80, 0xFF, 0xFF, 0x7F, 0x00, 0x00, 0xC0, 0x01, 0x00, 0x00])
                == [-1, 0x1.FFFFFCp-1, -0.5, 0x1p-23])
        #expect(decoded(.s32le, [0, 0, 0, 0x80, 0, 0, 0, 0xC0, 0xFF, 0xFF, 0xFF, 0x7F]) == [-1, -0.5, 1])  // rounds
        #expect(decoded(.f32le, [0, 0, 0x80, 0x3E, 0x01, 0x00, 0x80, 0x7F]).map(\.bitPattern)
                == [0x3E80_0000, 0x7F80_0001])                                  // NaNs pass as they are
        #expect(decoded(.f64le, [0, 0, 0, 0, 0, 0, 0xD0, 0x3F]) == [0.25])
    }

    @Test func aTrailingPartialSampleIsIgnored() {
        #expect(decoded(.s16le, [0x00, 0x40, 0x00]) == [0.5])
        #expect(decoded(.s24le, [0x00, 0x00, 0x40, 0x00, 0x00]) == [0.5])
        #expect(decoded(.f64le, [0, 0, 0, 0, 0, 0, 0xD0]) == [])
    }

    /// Encoding then decoding gives every value back within half a step (exactly for floats), little-endian.
    @Test(arguments: PCMSampleFormat.allCases)
    func encodesWhatItDecodes(format: PCMSampleFormat) {
        let samples: [Float] = (0..<257).map { Float($0 - 128) / 129 }   // inside full scale for u8 too
        var bytes: [UInt8] = [7]   // encoding appends
        format.encode(samples, appendingTo: &bytes)
        #expect(bytes.count == 1 + samples.count * format.byteWidth)
        let back = decoded(format, Array(bytes.dropFirst()))
        let step = format.isFloat ? 0 : Float(Double(sign: .plus, exponent: 1 - 8 * format.byteWidth, significand: 1))
        #expect(zip(samples, back).allSatisfy { abs($0 - $1) <= step / 2 })
    }

    @Test func encodesLittleEndianAndSaturates() {
        var bytes: [UInt8] = []
        PCMSampleFormat.s16le.encode([0.5, -1, 2, .nan], appendingTo: &bytes)
        #expect(bytes == [0x00, 0x40, 0x00, 0x80, 0xFF, 0x7F, 0x00, 0x00])
        bytes = []
        PCMSampleFormat.s24le.encode([-0.5], appendingTo: &bytes)
        #expect(bytes == [0x00, 0x00, 0xC0])
        bytes = []
        PCMSampleFormat.u8.encode([-1, 0, 1], appendingTo: &bytes)
        #expect(bytes == [0, 128, 255])
    }
}
