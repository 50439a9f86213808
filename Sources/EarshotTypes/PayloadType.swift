import NumberBits

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
    package func append(_ values: UnsafeBufferPointer<Float>, to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + values.count * byteWidth)
        switch self {
        case .f32:
            for v in values { Self.appendLittleEndian(v.bitPattern, to: &bytes) }
        case .f16:
            for v in values { Self.appendLittleEndian(v.float16Bits, to: &bytes) }
        case .bf16:
            for v in values { Self.appendLittleEndian(v.bfloat16Bits, to: &bytes) }
        }
    }

    /// `values` in this type, little-endian.
    package func encoded(_ values: UnsafeBufferPointer<Float>) -> [UInt8] {
        var bytes: [UInt8] = []
        append(values, to: &bytes)
        return bytes
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
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
                for i in 0..<count { out[i] = Float(float16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16:
                for i in 0..<count { out[i] = Float(bfloat16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            }
        }
        return out
    }
}
