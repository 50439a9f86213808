/// How an embedding's values travel: the client picks one of the types the server offers.
package enum PayloadType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 binary32, little-endian: the encoder's own values, bit for bit.
    case f32 = 0
    /// IEEE 754 binary16, little-endian, rounded to nearest even (values past ±65504 become ±infinity).
    case f16 = 1
    /// bfloat16 (the top half of a binary32), little-endian, rounded to nearest even.
    case bf16 = 2

    /// Bytes per value.
    package var byteWidth: Int { self == .f32 ? 4 : 2 }

    /// This type's bit in the `welcome` frame's `payloads` mask.
    package var maskBit: UInt8 { 1 << rawValue }

    package var description: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        }
    }

    package init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = match
    }

    /// Appends `values` in this type, little-endian.
    package func encode(_ values: UnsafeBufferPointer<Float>, into writer: inout ByteWriter) {
        writer.reserve(values.count * byteWidth)
        switch self {
        case .f32:
            for v in values { writer.u32(v.bitPattern) }
        case .f16:
            for v in values { writer.u16(Self.halfBits(v)) }
        case .bf16:
            for v in values { writer.u16(Self.bfloat16Bits(v)) }
        }
    }

    /// Reads `count` values of this type from little-endian `bytes` (exactly `count × byteWidth` long).
    package func decode(_ bytes: ArraySlice<UInt8>, count: Int) -> [Float] {
        precondition(bytes.count == count * byteWidth, "payload size does not match its count")
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            switch self {
            case .f32:
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .f16:
                for i in 0..<count { out[i] = Self.floatFromHalf(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16:
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            }
        }
        return out
    }

    // MARK: Conversions (no Float16 type needed: it is missing on some platforms)

    /// binary32 → bfloat16 bits, round to nearest even; NaN stays a quiet NaN.
    package static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    /// binary32 → binary16 bits, round to nearest even, with subnormals, overflow to infinity and NaN.
    package static func halfBits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {                                   // infinity or NaN
            return sign | 0x7C00 | (mantissa != 0 ? 0x0200 : 0)
        }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 0x1F { return sign | 0x7C00 }      // overflow
        if halfExponent <= 0 {                                  // subnormal half, or zero
            if halfExponent < -10 { return sign }
            let full = mantissa | 0x80_0000                     // implicit leading 1
            let shift = UInt32(14 - halfExponent)
            var half = full >> shift
            let remainder = full & ((1 << shift) - 1)
            let halfway: UInt32 = 1 << (shift - 1)
            if remainder > halfway || (remainder == halfway && (half & 1) == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(halfExponent) << 10 | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        if remainder > 0x1000 || (remainder == 0x1000 && (half & 1) == 1) { half += 1 }  // may carry into exponent: fine
        return sign | UInt16(half)
    }

    /// binary16 bits → binary32 (exact).
    package static func floatFromHalf(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Subnormal or zero: mantissa · 2^-24.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}

/// Raw PCM layouts a client may push (interleaved, little-endian).
package enum PCMFormat: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Signed 16-bit, scaled by 1/32768.
    case s16le = 0
    /// Signed 32-bit, scaled by 1/2³¹.
    case s32le = 1
    /// binary32 as is.
    case f32le = 2

    package var byteWidth: Int { self == .s16le ? 2 : 4 }

    package var description: String {
        switch self {
        case .s16le: "s16le"
        case .s32le: "s32le"
        case .f32le: "f32le"
        }
    }

    /// Appends the samples in `bytes` (whole samples only) as Float to `output`.
    package func decode(_ bytes: ArraySlice<UInt8>, into output: inout [Float]) {
        let count = bytes.count / byteWidth
        output.reserveCapacity(output.count + count)
        bytes.withUnsafeBytes { raw in
            switch self {
            case .s16le:
                for i in 0..<count {
                    output.append(Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) * (1 / 32768))
                }
            case .s32le:
                for i in 0..<count {
                    output.append(Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) * (1 / 2_147_483_648))
                }
            case .f32le:
                for i in 0..<count {
                    output.append(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                }
            }
        }
    }
}
