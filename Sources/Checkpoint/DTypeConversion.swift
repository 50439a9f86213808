import NumberBits

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

/// BF16 → F32, exact for every value (`Float(bfloat16Bits:)`).
private func widenBF16(from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0 ..< count {
        destination[i] = Float(bfloat16Bits: source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
    }
}

/// F16 → F32, exact for every value (`Float(float16Bits:)`).
private func widenF16(from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0 ..< count {
        destination[i] = Float(float16Bits: source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
    }
}
