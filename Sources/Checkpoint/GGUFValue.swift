/// The type tag of a GGUF metadata value (`gguf_type` in ggml's `gguf.h`; `GGUFValueType` in gguf-py).
public enum GGUFValueType: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The fewest bytes one value of this type takes in a file: its size for fixed-size types, the 8-byte length
    /// of an empty string, the 12-byte header (element type and count) of an empty array.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }

    public var description: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }
}

/// One GGUF metadata value, as stored: every scalar type keeps its width and signedness, arrays keep their element
/// type (arrays of arrays are allowed by the format and read as such).
///
/// ```swift
/// file.metadata["general.architecture"]?.stringValue      // "clip"
/// file.metadata["clip.audio.block_count"]?.integerValue   // 12, whatever integer type the writer chose
/// ```
public enum GGUFValue: Sendable, Hashable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double)
    case bool(Bool)
    case string(String)
    /// The element type (shared by all elements, as the format requires) and the elements.
    case array(GGUFValueType, [GGUFValue])

    /// The type tag this value has in a file.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// The value of any integer type, when it fits in `Int`; `nil` for other types.
    public var integerValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// The value of a FLOAT32 or FLOAT64 (widened exactly to `Double`); `nil` for other types.
    public var floatValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: nil
        }
    }

    /// The value of a BOOL; `nil` for other types.
    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The value of a STRING; `nil` for other types.
    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The elements of an ARRAY; `nil` for other types.
    public var arrayValue: [GGUFValue]? {
        if case .array(_, let v) = self { return v }
        return nil
    }
}

extension GGUFValue: CustomStringConvertible {
    /// A short rendering for people: strings quoted, arrays of more than 8 elements abbreviated.
    public var description: String {
        switch self {
        case .uint8(let v): "\(v)"
        case .int8(let v): "\(v)"
        case .uint16(let v): "\(v)"
        case .int16(let v): "\(v)"
        case .uint32(let v): "\(v)"
        case .int32(let v): "\(v)"
        case .uint64(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .float32(let v): "\(v)"
        case .float64(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let v): "\"\(v)\""
        case .array(let type, let elements):
            elements.count <= 8
                ? "[" + elements.map(\.description).joined(separator: ", ") + "]"
                : "[\(elements.count) × \(type)]"
        }
    }
}
