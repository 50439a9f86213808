// The GGUF layout, version 3 (ggml `docs/gguf.md`; gguf-py `gguf_reader.py`), all integers little-endian:
//
//   offset 0     4        8               16                  24
//          +-----+--------+---------------+-------------------+--------------------------------+
//          |GGUF | version| tensor_count  | metadata_kv_count | metadata: kv_count × KV         |
//          |magic| u32 = 3| u64           | u64               |                                 |
//          +-----+--------+---------------+-------------------+--------------------------------+
//          | tensor infos: tensor_count × TI    | zero padding to `general.alignment` (32) | data |
//          +------------------------------------+------------------------------------------+------+
//
//   KV     = string key, u32 value type, value
//   value  = u8 | i8 | u16 | i16 | u32 | i32 | u64 | i64 | f32 | f64 | bool (1 byte, 0 or 1) | string
//            | array: u32 element type, u64 count, count × value (of that type; arrays may nest)
//   string = u64 byte length, UTF-8 bytes (no terminator)
//   TI     = string name, u32 n_dims (≤ 4), n_dims × u64 ne (fastest-varying first), u32 ggml type,
//            u64 offset of the tensor's bytes from the start of the data section (a multiple of the alignment)
//
// A tensor of ne = {ne0, ne1, …} holds its elements with ne0 varying fastest: the same bytes as a row-major
// PyTorch tensor of shape […, ne1, ne0]. A quantized type packs each run of `blockSize` elements along ne0 into a
// block, so ne0 must be a multiple of the block size.
//
// This file parses and checks the whole header against the file's size. Everything that can be wrong is found
// here, so reads cannot fail on a well-formed name; whether a type is *readable* is checked later, and only for
// the tensors a source exposes.

/// The largest number of dimensions a ggml tensor has (`GGML_MAX_DIMS`).
let ggufMaximumDimensions = 4
/// How deeply arrays may nest in metadata. The format allows arrays of arrays; no writer nests more than one level.
let ggufMaximumArrayDepth = 8

/// One tensor of a GGUF file, as its tensor info describes it, checked against the file.
public struct GGUFTensorInfo: Sendable, Hashable {
    /// The tensor's name in the file, e.g. `a.blk.0.attn_q.weight`.
    public let name: String
    /// ggml's `ne`: the dimensions, fastest-varying first (the reverse of PyTorch order).
    public let dimensions: [Int]
    /// The stored element type.
    public let type: GGMLType
    /// Where the tensor's bytes start, relative to the data section (as stored).
    public let offset: Int
    /// The tensor's bytes as absolute file offsets; `nil` when ``type`` has no known size.
    public let fileRange: Range<Int>?

    /// The dimensions in PyTorch order, outermost first: ``dimensions`` reversed.
    public var shape: [Int] { dimensions.reversed() }

    /// The number of elements (1 for zero dimensions).
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// The bytes the tensor takes in the file; `nil` when ``type`` has no known size.
    public var byteCount: Int? { fileRange?.count }
}

/// The parsed and checked header of one GGUF file.
struct GGUFHeader: Sendable {
    let version: UInt32
    let alignment: Int
    /// The metadata in file order (keys are unique).
    let metadata: [(key: String, value: GGUFValue)]
    /// The tensors in file order (names are unique).
    let tensors: [GGUFTensorInfo]
    /// The absolute offset of the data section.
    let dataOffset: Int

    static let magic: [UInt8] = Array("GGUF".utf8)
    static let supportedVersion: UInt32 = 3
    static let defaultAlignment = 32
    /// Magic, version and the two counts.
    static let fixedSize = 24

    /// Parses `bytes`, the whole file at `path`.
    init(bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        var cursor = GGUFCursor(bytes: bytes, path: path)
        let fileSize = bytes.count
        if fileSize >= 4, !zip(bytes.prefix(4), Self.magic).allSatisfy({ $0 == $1 }) {
            let found = bytes.prefix(4).map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            throw CheckpointError(.headerInvalid, file: path,
                                  "not a GGUF file: it starts with bytes \(found), not the magic \"GGUF\"")
        }
        guard fileSize >= Self.fixedSize else {
            throw CheckpointError(.truncated, file: path, "file is \(fileSize) bytes, shorter than the "
                                  + "\(Self.fixedSize)-byte GGUF header (magic, version, counts); it is truncated")
        }
        cursor.offset = 4
        version = try cursor.u32 { "the version" }
        guard version == Self.supportedVersion else {
            let hint = version.byteSwapped == Self.supportedVersion
                ? ": this looks like a big-endian GGUF, and only little-endian files can be read"
                : version < Self.supportedVersion ? ": an old format; re-convert with a current llama.cpp" : ""
            throw CheckpointError(.headerInvalid, file: path,
                                  "GGUF version \(version) is not supported, only version 3\(hint)")
        }
        let tensorCount = try cursor.u64 { "the tensor count" }
        let kvCount = try cursor.u64 { "the metadata count" }
        // Each KV takes at least 13 bytes (8-byte key length, 4-byte type, 1-byte value), each tensor info at
        // least 24 (8-byte name length, 4-byte n_dims, 4-byte type, 8-byte offset): larger counts cannot fit.
        let rest = UInt64(fileSize - Self.fixedSize)
        guard kvCount <= rest / 13 else {
            throw CheckpointError(.headerInvalid, file: path, "metadata count \(kvCount) is absurd: the "
                                  + "\(fileSize)-byte file has room for at most \(rest / 13) entries (or the file "
                                  + "is truncated)")
        }
        guard tensorCount <= rest / 24 else {
            throw CheckpointError(.headerInvalid, file: path, "tensor count \(tensorCount) is absurd: the "
                                  + "\(fileSize)-byte file has room for at most \(rest / 24) tensor infos (or the "
                                  + "file is truncated)")
        }

        var metadata: [(key: String, value: GGUFValue)] = []
        metadata.reserveCapacity(Int(kvCount))
        var keys: Set<String> = []
        for index in 0 ..< Int(kvCount) {
            let key = try cursor.string { "the key of metadata entry \(index)" }
            guard keys.insert(key).inserted else {
                throw CheckpointError(.headerInvalid, file: path, "metadata key '\(key)' appears twice")
            }
            let rawType = try cursor.u32 { "the value type of metadata '\(key)'" }
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw CheckpointError(.headerInvalid, file: path,
                                      "metadata '\(key)' has value type \(rawType), which GGUF does not define")
            }
            metadata.append((key, try cursor.value(of: type, depth: 0) { "metadata '\(key)'" }))
        }
        self.metadata = metadata

        var alignment = Self.defaultAlignment
        if let stored = metadata.first(where: { $0.key == "general.alignment" })?.value {
            guard let value = stored.integerValue, value > 0, value & (value - 1) == 0 else {
                throw CheckpointError(.headerInvalid, file: path,
                                      "general.alignment is \(stored), not a positive power of two")
            }
            alignment = value
        }
        self.alignment = alignment

        struct Pending { let name: String, dimensions: [Int], type: GGMLType, offset: Int }
        var pending: [Pending] = []
        pending.reserveCapacity(Int(tensorCount))
        for index in 0 ..< Int(tensorCount) {
            let name = try cursor.string { "the name of tensor info \(index)" }
            func invalid(_ reason: String) -> CheckpointError {
                CheckpointError(.entryInvalid, file: path, tensor: name, reason)
            }
            let rank = try cursor.u32(tensor: name) { "its n_dims" }
            guard rank <= ggufMaximumDimensions else {
                throw invalid("n_dims is \(rank); ggml tensors have at most \(ggufMaximumDimensions)")
            }
            var dimensions: [Int] = []
            // The product of the non-zero dimensions fits in an Int, so the element count does in any order
            // (ne {0, 2^40, 2^40} has no elements, but its reversed shape would overflow before reaching the 0).
            var nonZeroProduct = 1
            for axis in 0 ..< Int(rank) {
                let raw = try cursor.u64(tensor: name) { "ne[\(axis)]" }
                guard let dimension = Int(exactly: raw) else { throw invalid("ne[\(axis)] = \(raw) is absurd") }
                let (product, overflow) = nonZeroProduct.multipliedReportingOverflow(by: max(dimension, 1))
                guard !overflow else { throw invalid("ne \(dimensions + [dimension]) has too many elements") }
                nonZeroProduct = product
                dimensions.append(dimension)
            }
            let type = GGMLType(rawValue: try cursor.u32(tensor: name) { "its type" })
            let rawOffset = try cursor.u64(tensor: name) { "its data offset" }
            guard let offset = Int(exactly: rawOffset), offset <= fileSize else {
                throw CheckpointError(.truncated, file: path, tensor: name, "data offset \(rawOffset) lies beyond "
                                      + "the end of the \(fileSize)-byte file; the file is truncated")
            }
            guard offset % alignment == 0 else {
                throw invalid("data offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            if let block = type.blockSize, block > 1, (dimensions.first ?? 1) % block != 0 {
                throw invalid("ne[0] = \(dimensions.first ?? 1) is not a multiple of \(type.name)'s block of "
                              + "\(block) elements")
            }
            pending.append(Pending(name: name, dimensions: dimensions, type: type, offset: offset))
        }

        // The data section starts at the next multiple of the alignment after the tensor infos.
        let infoEnd = cursor.offset
        dataOffset = (infoEnd + alignment - 1) / alignment * alignment
        var names: Set<String> = []
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(pending.count)
        for tensor in pending {
            guard names.insert(tensor.name).inserted else {
                throw CheckpointError(.duplicateTensor, file: path, tensor: tensor.name,
                                      "two tensor infos have this name")
            }
            var fileRange: Range<Int>?
            let start = dataOffset + tensor.offset
            if let block = tensor.type.blockSize, let blockBytes = tensor.type.bytesPerBlock {
                let elements = tensor.dimensions.reduce(1, *)
                let (bytes, overflow) = (elements / block).multipliedReportingOverflow(by: blockBytes)
                guard !overflow, bytes <= fileSize, start <= fileSize - bytes else {
                    throw CheckpointError(.truncated, file: path, tensor: tensor.name,
                                          "data [\(start), \(overflow ? "…" : String(start + bytes))) "
                                          + "(\(tensor.type.name), ne \(tensor.dimensions)) lies beyond the end of "
                                          + "the \(fileSize)-byte file; the file is truncated")
                }
                fileRange = start ..< start + bytes
            } else if start > fileSize {
                throw CheckpointError(.truncated, file: path, tensor: tensor.name, "data offset \(start) lies "
                                      + "beyond the end of the \(fileSize)-byte file; the file is truncated")
            }
            tensors.append(GGUFTensorInfo(name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                                          offset: tensor.offset, fileRange: fileRange))
        }

        // Overlap: in order of start, each non-empty range must begin at or after the furthest end so far.
        var furthest: GGUFTensorInfo?
        let byStart = tensors.filter { !($0.fileRange?.isEmpty ?? true) }
            .sorted { ($0.fileRange!.lowerBound, $0.name) < ($1.fileRange!.lowerBound, $1.name) }
        for tensor in byStart {
            if let previous = furthest, tensor.fileRange!.lowerBound < previous.fileRange!.upperBound {
                throw CheckpointError(.overlappingTensors, file: path, tensor: tensor.name,
                                      "data at offset \(tensor.offset) overlaps tensor '\(previous.name)' "
                                      + "(offset \(previous.offset), \(previous.byteCount!) bytes)")
            }
            if furthest == nil || tensor.fileRange!.upperBound > furthest!.fileRange!.upperBound { furthest = tensor }
        }
        self.tensors = tensors
    }
}

/// A bounds-checked little-endian reader over the bytes of a GGUF file. Running off the end throws `.truncated`
/// naming what was being read.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    private var remaining: Int { bytes.count - offset }

    /// Advances past `count` bytes and returns where they start.
    private mutating func take(_ count: Int, tensor: String? = nil,
                               _ what: () -> String) throws(CheckpointError) -> Int {
        guard count <= remaining else {
            throw CheckpointError(.truncated, file: path, tensor: tensor,
                                  "the file ends at byte \(bytes.count) while reading \(what()) (\(count) bytes "
                                  + "at \(offset)); it is truncated")
        }
        defer { offset += count }
        return offset
    }

    private mutating func load<T: FixedWidthInteger>(_: T.Type, tensor: String? = nil,
                                                      _ what: () -> String) throws(CheckpointError) -> T {
        let at = try take(MemoryLayout<T>.size, tensor: tensor, what)
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    mutating func u32(tensor: String? = nil, _ what: () -> String) throws(CheckpointError) -> UInt32 {
        try load(UInt32.self, tensor: tensor, what)
    }

    mutating func u64(tensor: String? = nil, _ what: () -> String) throws(CheckpointError) -> UInt64 {
        try load(UInt64.self, tensor: tensor, what)
    }

    /// A GGUF string: u64 length, then that many bytes of UTF-8.
    mutating func string(_ what: () -> String) throws(CheckpointError) -> String {
        let length = try u64 { "the length of \(what())" }
        guard length <= UInt64(remaining) else {
            throw CheckpointError(.truncated, file: path, "\(what()) is \(length) bytes long, but the file ends "
                                  + "\(remaining) bytes later, at byte \(bytes.count); it is truncated")
        }
        let start = try take(Int(length), what)
        let utf8 = UnsafeRawBufferPointer(rebasing: bytes[start ..< start + Int(length)])
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw CheckpointError(.headerInvalid, file: path, "\(what()) is not valid UTF-8")
        }
        return string
    }

    /// One metadata value of `type`. `what` names it for errors (e.g. "metadata 'general.name'").
    mutating func value(of type: GGUFValueType, depth: Int,
                        _ what: () -> String) throws(CheckpointError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try load(UInt8.self, what))
        case .int8: return .int8(try load(Int8.self, what))
        case .uint16: return .uint16(try load(UInt16.self, what))
        case .int16: return .int16(try load(Int16.self, what))
        case .uint32: return .uint32(try load(UInt32.self, what))
        case .int32: return .int32(try load(Int32.self, what))
        case .uint64: return .uint64(try load(UInt64.self, what))
        case .int64: return .int64(try load(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, what)))
        case .bool:
            let byte = try load(UInt8.self, what)
            guard byte <= 1 else {
                throw CheckpointError(.headerInvalid, file: path, "\(what()) is a BOOL stored as \(byte), not 0 or 1")
            }
            return .bool(byte == 1)
        case .string:
            return .string(try string(what))
        case .array:
            guard depth < ggufMaximumArrayDepth else {
                throw CheckpointError(.headerInvalid, file: path,
                                      "\(what()) nests arrays more than \(ggufMaximumArrayDepth) deep")
            }
            let rawType = try u32 { "the element type of \(what())" }
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw CheckpointError(.headerInvalid, file: path,
                                      "\(what()) is an array of type \(rawType), which GGUF does not define")
            }
            let count = try u64 { "the element count of \(what())" }
            let room = UInt64(remaining / elementType.minimumEncodedSize)
            guard count <= room else {
                throw CheckpointError(.headerInvalid, file: path, "\(what()) claims \(count) \(elementType) "
                                      + "elements: absurd, as the rest of the file has room for at most "
                                      + "\(room) (or the file is truncated)")
            }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(Int(count))
            for index in 0 ..< Int(count) {
                elements.append(try value(of: elementType, depth: depth + 1) { "\(what())[\(index)]" })
            }
            return .array(elementType, elements)
        }
    }
}
