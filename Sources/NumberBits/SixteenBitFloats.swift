// binary32 ↔ binary16 (IEEE half) and binary32 ↔ bfloat16, as bit patterns: how the wire payloads, checkpoint
// elements and bf16 products store 16-bit floats. Bit manipulation rather than Swift's `Float16`, which is missing
// on some platforms (macOS on x86_64) and, without F16C enabled at compile time, is a library call per element:
// ten times slower than these (0.35 s against 0.035 s for 10⁸ widenings, measured on this project's machine).
// Everything is `@inlinable` so that the callers' element loops inline it and vectorise.

extension Float {
    /// The binary32 equal to the bfloat16 with bit pattern `bits`. A bfloat16 is the high half of a binary32, so
    /// widening is a 16-bit shift: exact for every pattern, NaN payloads and signs included.
    @inlinable
    package init(bfloat16Bits bits: UInt16) {
        self.init(bitPattern: UInt32(truncatingIfNeeded: bits) &<< 16)
    }

    /// The bfloat16 nearest this value, ties to even, as a bit pattern. Values past the largest bfloat16 round to
    /// ±infinity (as in torch's and oneDNN's casts); a NaN stays a NaN: its high half, with the quiet bit set so
    /// that a payload held only in the low half cannot turn it into infinity.
    @inlinable
    package var bfloat16Bits: UInt16 {
        let bits = bitPattern
        if isNaN { return UInt16(truncatingIfNeeded: bits &>> 16) | 0x0040 }
        // Adding 0x7FFF, plus 1 when the kept half is odd, carries into the high half exactly when the dropped half
        // is above halfway, or at halfway with an odd high half; a carry out of the fraction bumps the exponent.
        let roundingBias: UInt32 = 0x7FFF &+ ((bits &>> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) &>> 16)
    }

    /// The binary32 equal to the binary16 with bit pattern `bits`, exact for every pattern.
    ///
    /// binary16 is 1 sign, 5 exponent (bias 15), 10 fraction bits; binary32 is 1, 8 (bias 127), 23. Shifting the
    /// exponent and fraction left by 13 lines up the fields, and reading those bits as a binary32 gives the value
    /// scaled by 2^(15−127) = 2^−112 — for normal numbers (a normal binary32) and subnormals (a binary32 subnormal,
    /// whose implicit bit is 0 just like binary16's) alike. Multiplying by 2^112 undoes the scale exactly, since the
    /// product is representable. Infinity and NaN (exponent all ones) instead get the binary32 all-ones exponent,
    /// keeping the fraction, so a NaN's payload and quiet bit survive. The sign is copied last (so −0 stays −0).
    @inlinable
    package init(float16Bits bits: UInt16) {
        let magnitude = UInt32(truncatingIfNeeded: bits) & 0x7FFF
        let sign = (UInt32(truncatingIfNeeded: bits) & 0x8000) &<< 16
        let scaled = Float(bitPattern: magnitude &<< 13) * Float(bitPattern: 0x7780_0000)   // × 2^112
        let special = Float(bitPattern: (magnitude &<< 13) | 0x7F80_0000)                   // inf or NaN
        let value = magnitude >= 0x7C00 ? special : scaled
        self.init(bitPattern: value.bitPattern | sign)
    }

    /// The binary16 nearest this value, ties to even, as a bit pattern: subnormal halves where the value is that
    /// small, ±infinity past ±65504 (from 65520, halfway to the next power of two), and a NaN stays a quiet NaN.
    @inlinable
    package var float16Bits: UInt16 {
        let bits = bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits &>> 16) & 0x8000)
        let exponent = Int((bits &>> 23) & 0xFF)
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
            var half = full &>> shift
            let remainder = full & ((1 &<< shift) - 1)
            let halfway: UInt32 = 1 &<< (shift - 1)
            if remainder > halfway || (remainder == halfway && (half & 1) == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(halfExponent) &<< 10 | (mantissa &>> 13)
        let remainder = mantissa & 0x1FFF
        // A carry out of the fraction bumps the exponent, up to infinity: that is the correct rounding.
        if remainder > 0x1000 || (remainder == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }
}
