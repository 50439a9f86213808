import Foundation

// A deliberately small GGUF writer, written from the format description (ggml docs/gguf.md) and sharing no code with
// the module under test: its own value enum, its own little-endian encoding, and every count, type id and offset
// overridable so tests can write malformed files.

/// A metadata value as written. `.raw` writes any type id followed by any bytes.
enum TestValue {
    case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), u64(UInt64), i64(Int64)
    case f32(Float), f64(Double), bool(Bool), string(String)
    /// Element type id and elements (which must all be of that type).
    case array(UInt32, [TestValue])
    case raw(type: UInt32, bytes: [UInt8])

    var typeID: UInt32 {
        switch self {
        case .u8: 0
        case .i8: 1
        case .u16: 2
        case .i16: 3
        case .u32: 4
        case .i32: 5
        case .f32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .u64: 10
        case .i64: 11
        case .f64: 12
        case .raw(let type, _): type
        }
    }

    /// The encoded value, without its type id.
    var payload: [UInt8] {
        switch self {
        case .u8(let v): [v]
        case .i8(let v): [UInt8(bitPattern: v)]
        case .u16(let v): le(UInt64(v), 2)
        case .i16(let v): le(UInt64(UInt16(bitPattern: v)), 2)
        case .u32(let v): le(UInt64(v), 4)
        case .i32(let v): le(UInt64(UInt32(bitPattern: v)), 4)
        case .u64(let v): le(v, 8)
        case .i64(let v): le(UInt64(bitPattern: v), 8)
        case .f32(let v): le(UInt64(v.bitPattern), 4)
        case .f64(let v): le(v.bitPattern, 8)
        case .bool(let v): [v ? 1 : 0]
        case .string(let v): ggufString(v)
        case .array(let type, let elements): le(UInt64(type), 4) + le(UInt64(elements.count), 8)
            + elements.flatMap(\.payload)
        case .raw(_, let bytes): bytes
        }
    }
}

/// `count` little-endian bytes of `value`.
func le(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0 ..< count).map { UInt8((value >> (8 * UInt64($0))) & 0xFF) }
}

/// A GGUF string: u64 length, then the UTF-8 bytes.
func ggufString(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count), 8) + Array(s.utf8) }

/// One tensor to write. ggml type ids: F32 0, F16 1, Q4_0 2, Q8_0 8, Q4_K 12, BF16 30.
struct TestGGUFTensor {
    var name: String
    var ne: [UInt64]
    var type: UInt32
    var data: [UInt8]
    /// Overrides the computed offset (relative to the data section).
    var offset: UInt64? = nil
}

/// A GGUF file to write: by default a well-formed version 3 file laid out as llama.cpp lays it out.
struct TestGGUF {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(key: String, value: TestValue)] = []
    var tensors: [TestGGUFTensor] = []
    /// The alignment used for layout (tests that change it also write `general.alignment`).
    var alignment = 32
    var tensorCount: UInt64? = nil
    var metadataCount: UInt64? = nil

    /// The byte offset where the tensor infos start, and where the data section starts.
    var sections: (infos: Int, data: Int) {
        let infos = 24 + metadata.reduce(0) { $0 + ggufString($1.key).count + 4 + $1.value.payload.count }
        let end = tensors.reduce(infos) { $0 + ggufString($1.name).count + 4 + 8 * $1.ne.count + 4 + 8 }
        return (infos, (end + alignment - 1) / alignment * alignment)
    }

    /// Each tensor's offset from the data section: the override, or packed in order at the alignment.
    var offsets: [UInt64] {
        var next: UInt64 = 0
        return tensors.map { tensor in
            let offset = tensor.offset ?? next
            next = (offset + UInt64(tensor.data.count) + UInt64(alignment) - 1) / UInt64(alignment)
                * UInt64(alignment)
            return offset
        }
    }

    var bytes: [UInt8] {
        var out = magic + le(UInt64(version), 4)
        out += le(tensorCount ?? UInt64(tensors.count), 8) + le(metadataCount ?? UInt64(metadata.count), 8)
        for (key, value) in metadata { out += ggufString(key) + le(UInt64(value.typeID), 4) + value.payload }
        let offsets = self.offsets
        for (tensor, offset) in zip(tensors, offsets) {
            out += ggufString(tensor.name) + le(UInt64(tensor.ne.count), 4) + tensor.ne.flatMap { le($0, 8) }
            out += le(UInt64(tensor.type), 4) + le(offset, 8)
        }
        let dataStart = (out.count + alignment - 1) / alignment * alignment
        out += [UInt8](repeating: 0, count: dataStart - out.count)
        for (tensor, offset) in zip(tensors, offsets) {
            let at = dataStart + Int(offset)
            if out.count < at { out += [UInt8](repeating: 0, count: at - out.count) }
            if out.count > at { out.removeLast(out.count - at) }   // overlapping overrides: later data wins
            out += tensor.data
        }
        return out
    }
}

/// The binary16 bit pattern's value, computed by hand (sign, exponent, fraction), not by the module under test.
func halfValue(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F), fraction = Float(bits & 0x3FF)
    if exponent == 0 { return sign * fraction * pow(2, -24) }
    if exponent == 31 { return fraction == 0 ? sign * .infinity : .nan }
    return sign * (1 + fraction / 1024) * pow(2, Float(exponent - 15))
}

/// One Q8_0 block: the scale's binary16 bits, then 32 signed bytes.
func q8Block(scale: UInt16, _ q: [Int8]) -> [UInt8] {
    precondition(q.count == 32)
    return le(UInt64(scale), 2) + q.map { UInt8(bitPattern: $0) }
}
