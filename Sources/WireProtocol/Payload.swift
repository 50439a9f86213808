import AudioCore
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
    package func encode(_ values: UnsafeBufferPointer<Float>, into writer: inout ByteWriter) {
        writer.reserve(values.count * byteWidth)
        switch self {
        case .f32:
            for v in values { writer.u32(v.bitPattern) }
        case .f16:
            for v in values { writer.u16(v.float16Bits) }
        case .bf16:
            for v in values { writer.u16(v.bfloat16Bits) }
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
                for i in 0..<count { out[i] = Float(float16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16:
                for i in 0..<count { out[i] = Float(bfloat16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            }
        }
        return out
    }
}

/// Raw PCM layouts a client may push (interleaved, little-endian). The raw values are the protocol's; the samples
/// are AudioCore's ``PCMSampleFormat``.
package enum PCMFormat: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Signed 16-bit, scaled by 1/32768.
    case s16le = 0
    /// Signed 32-bit, scaled by 1/2³¹.
    case s32le = 1
    /// binary32 as is.
    case f32le = 2

    /// How the samples are stored.
    package var sampleFormat: PCMSampleFormat {
        switch self {
        case .s16le: .s16le
        case .s32le: .s32le
        case .f32le: .f32le
        }
    }

    package var byteWidth: Int { sampleFormat.byteWidth }

    package var description: String { sampleFormat.rawValue }

    /// Appends the samples in `bytes` (whole samples only) as Float to `output`.
    package func decode(_ bytes: ArraySlice<UInt8>, into output: inout [Float]) {
        bytes.withUnsafeBytes { sampleFormat.decode($0, appendingTo: &output) }
    }
}
