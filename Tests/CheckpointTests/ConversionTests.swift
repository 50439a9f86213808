import Checkpoint
import Testing

// Exact values of F32, F16 and BF16 elements read through SafetensorsFile. Expected values are written as hex
// float literals worked out by hand from the bit patterns, not computed by the code under test.

/// Writes one tensor of `dtype` holding `data`, and reads it back as floats.
private func roundTrip(_ dtype: String, _ data: [UInt8], count: Int, pad: Bool = true, gap: Int = 0) throws -> [Float] {
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    let path = try dir.writeSafetensors("t.safetensors", [TestTensor(name: "t", dtype: dtype, shape: [count], data: data)],
                                        gap: gap, pad: pad)
    return try SafetensorsFile(path: path).floats("t")
}

@Suite struct ConversionTests {
    @Test func f32IsCopiedBitForBit() throws {
        let bits: [UInt32] = [
            0x3F80_0000,   // 1
            0x8000_0000,   // -0
            0x0000_0001,   // smallest subnormal
            0x7F7F_FFFF,   // largest finite
            0xFF80_0000,   // -inf
            0x7FC0_1234,   // quiet NaN with payload
            0x7F80_0001,   // signalling NaN
            0x4049_0FDB,   // pi
        ]
        let floats = try roundTrip("F32", bytes32(bits), count: bits.count)
        #expect(floats.map(\.bitPattern) == bits)
    }

    @Test func f16WidensExactly() throws {
        let cases: [(UInt16, Float)] = [
            (0x0000, 0),
            (0x3C00, 1),
            (0xC000, -2),
            (0x3555, 0x1.554p-2),        // 0.333251953125, nearest half to 1/3
            (0x7BFF, 65504),             // largest finite
            (0x0400, 0x1p-14),           // smallest normal
            (0x03FF, 0x1.FF8p-15),       // largest subnormal: 1023 × 2^-24
            (0x0001, 0x1p-24),           // smallest subnormal
            (0x8001, -0x1p-24),
            (0x0200, 0x1p-15),
            (0x7C00, .infinity),
            (0xFC00, -.infinity),
        ]
        let floats = try roundTrip("F16", bytes16(cases.map(\.0)), count: cases.count)
        #expect(floats == cases.map(\.1))
    }

    @Test func f16SignedZeroAndNaNsKeepTheirBits() throws {
        // -0 keeps its sign; a NaN keeps sign, quiet bit and payload (the 10 fraction bits move up by 13).
        let halves: [UInt16] = [0x8000, 0x7E00, 0xFE00, 0x7C01, 0x7FFF]
        let expected: [UInt32] = [0x8000_0000, 0x7FC0_0000, 0xFFC0_0000, 0x7F80_2000, 0x7FFF_E000]
        let floats = try roundTrip("F16", bytes16(halves), count: halves.count)
        #expect(floats.map(\.bitPattern) == expected)
        #expect(floats.dropFirst().allSatisfy { $0.isNaN })
    }

    @Test func f16AgreesWithTheStandardLibraryForEveryPattern() throws {
        let all = (0 ... 0xFFFF).map { UInt16($0) }
        let floats = try roundTrip("F16", bytes16(all), count: all.count)
        var mismatches = 0
        for (bits, value) in zip(all, floats) {
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN ? !value.isNaN : reference.bitPattern != value.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func bf16WidensExactly() throws {
        let cases: [(UInt16, Float)] = [
            (0x3F80, 1),
            (0x3F81, 0x1.02p0),          // 1 + 2^-7: the bf16 neighbour above 1
            (0x3F7F, 0x1.FEp-1),         // 1 - 2^-8: the bf16 neighbour below 1
            (0x4049, 0x1.92p1),          // 3.140625, pi rounded to bf16
            (0xC2F7, -0x1.EEp6),         // -123.5
            (0x7F7F, 0x1.FEp127),        // largest finite
            (0x0080, 0x1p-126),          // smallest normal
            (0x007F, 0x1.FCp-127),       // largest subnormal
            (0x0001, 0x1p-133),          // smallest subnormal
            (0x7F80, .infinity),
            (0xFF80, -.infinity),
        ]
        let floats = try roundTrip("BF16", bytes16(cases.map(\.0)), count: cases.count)
        #expect(floats == cases.map(\.1))
    }

    @Test func bf16SignedZeroAndNaNsKeepTheirBits() throws {
        let halves: [UInt16] = [0x8000, 0x7FC0, 0xFFC1, 0x7F81]
        let floats = try roundTrip("BF16", bytes16(halves), count: halves.count)
        #expect(floats.map(\.bitPattern) == halves.map { UInt32($0) << 16 })
    }

    @Test(arguments: [1, 2, 3])
    func unalignedDataIsReadExactly(gap: Int) throws {
        // An unpadded header and `gap` junk bytes before each tensor put the elements at offsets that are not
        // multiples of their size.
        let f32: [Float] = [1.5, -0x1.8p-140, 3e38]
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("u.safetensors", [
            TestTensor(name: "a", dtype: "F32", shape: [3], data: bytesF32(f32)),
            TestTensor(name: "b", dtype: "BF16", shape: [2], data: bytes16([0x3F81, 0xC2F7])),
            TestTensor(name: "c", dtype: "F16", shape: [2], data: bytes16([0x3555, 0x0001])),
        ], gap: gap, pad: false)
        let file = try SafetensorsFile(path: path)
        #expect(try file.floats("a").map(\.bitPattern) == f32.map(\.bitPattern))
        #expect(try file.floats("b") == [0x1.02p0, -0x1.EEp6])
        #expect(try file.floats("c") == [0x1.554p-2, 0x1p-24])
    }
}
