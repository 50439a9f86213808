// Widening of stored elements to Float32.
//
// Byte order: safetensors stores elements little-endian, and these loops load them in host order, so the module
// supports little-endian hosts only (x86_64, arm64). The check below makes a big-endian build fail loudly.
#if !_endian(little)
#error("Checkpoint reads little-endian safetensors data with host-order loads; big-endian hosts are not supported")
#endif
//
// Alignment: safetensors data offsets need not be multiples of the element size (and the data section starts at
// 8 + header length, which writers usually but not always pad to 8), so every load is `loadUnaligned`. On x86_64
// that is an ordinary move, and the loops below vectorise (checked in the disassembly of a release build).

/// Converts `count` elements of `dtype` starting at `source` (any alignment) into `destination[0 ..< count]`.
package func widen(_ dtype: TensorDType, from source: UnsafeRawPointer,
                   into destination: UnsafeMutablePointer<Float>, count: Int) {
    switch dtype {
    case .f32: copyF32(from: source, into: destination, count: count)
    case .bf16: widenBF16(from: source, into: destination, count: count)
    case .f16: widenF16(from: source, into: destination, count: count)
    }
}

/// F32 → F32: a bit-for-bit copy (NaN payloads and signalling NaNs included), with unaligned loads.
private func copyF32(from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
    UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count &* 4)
}

/// BF16 → F32: a bfloat16 is the high half of a binary32, so widening is a 16-bit shift; exact for every value.
private func widenBF16(from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0 ..< count {
        let bits = source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)
        destination[i] = Float(bitPattern: UInt32(truncatingIfNeeded: bits) &<< 16)
    }
}

/// F16 → F32, exact for every value, by bit manipulation.
///
/// `Float(Float16(bitPattern:))` gives the same values, but without F16C enabled at compile time it is a library
/// call per element, ten times slower than this loop (0.35 s against 0.035 s for 10⁸ values, measured on this
/// project's machine).
private func widenF16(from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0 ..< count {
        let bits = source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)
        destination[i] = floatFromHalfBits(bits)
    }
}

/// The binary32 equal to the binary16 with bit pattern `half`.
///
/// binary16 is 1 sign, 5 exponent (bias 15), 10 fraction bits; binary32 is 1, 8 (bias 127), 23. Shifting the
/// exponent and fraction left by 13 lines up the fields, and reading those bits as a binary32 gives the value
/// scaled by 2^(15−127) = 2^−112 — for normal numbers (a normal binary32) and subnormals (a binary32 subnormal,
/// whose implicit bit is 0 just like binary16's) alike. Multiplying by 2^112 undoes the scale exactly, since the
/// product is representable. Infinity and NaN (exponent all ones) instead get the binary32 all-ones exponent,
/// keeping the fraction, so a NaN's payload and quiet bit survive. The sign is copied last (so −0 stays −0).
@inline(__always)
func floatFromHalfBits(_ half: UInt16) -> Float {
    let magnitude = UInt32(truncatingIfNeeded: half) & 0x7FFF
    let sign = (UInt32(truncatingIfNeeded: half) & 0x8000) &<< 16
    let scaled = Float(bitPattern: magnitude &<< 13) * Float(bitPattern: 0x7780_0000)   // × 2^112
    let special = Float(bitPattern: (magnitude &<< 13) | 0x7F80_0000)                   // inf or NaN
    let value = magnitude >= 0x7C00 ? special : scaled
    return Float(bitPattern: value.bitPattern | sign)
}
