import Checkpoint
import Foundation

// Rewrites a fixture mmproj GGUF with one thing changed (a metadata value, a tensor's name, ne or type), to test
// how a real file that is wrong in one way is refused. Reads with Checkpoint's GGUFFile (tested on its own in
// CheckpointTests); writes with the small encoder below.

struct GGUFRewriter {
    struct Tensor {
        var name: String
        var dimensions: [Int]
        var type: UInt32
        var data: [UInt8]
    }

    var metadata: [(key: String, value: GGUFValue)]
    var tensors: [Tensor]

    init(path: String) throws {
        let file = try GGUFFile(path: path, prefixes: [])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        metadata = file.metadataKeys.map { ($0, file.metadata[$0]!) }
        tensors = file.tensors.map { t in
            Tensor(name: t.name, dimensions: t.dimensions, type: t.type.rawValue, data: Array(bytes[t.fileRange!]))
        }
    }

    mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else {
            metadata.append((key, value))
        }
    }

    mutating func remove(_ key: String) { metadata.removeAll { $0.key == key } }

    mutating func editTensor(_ name: String, _ edit: (inout Tensor) -> Void) {
        let i = tensors.firstIndex { $0.name == name }!
        edit(&tensors[i])
    }

    mutating func removeTensor(_ name: String) { tensors.removeAll { $0.name == name } }

    /// The file, laid out at alignment 32 (the fixtures do not set general.alignment).
    var bytes: [UInt8] {
        var out = Array("GGUF".utf8) + le(3, 4) + le(UInt64(tensors.count), 8) + le(UInt64(metadata.count), 8)
        for (key, value) in metadata { out += string(key) + le(UInt64(value.type.rawValue), 4) + encode(value) }
        var offset = 0
        for tensor in tensors {
            out += string(tensor.name) + le(UInt64(tensor.dimensions.count), 4)
            out += tensor.dimensions.flatMap { le(UInt64($0), 8) } + le(UInt64(tensor.type), 4) + le(UInt64(offset), 8)
            offset = aligned(offset + tensor.data.count)
        }
        out += [UInt8](repeating: 0, count: aligned(out.count) - out.count)
        for tensor in tensors {
            out += tensor.data + [UInt8](repeating: 0, count: aligned(tensor.data.count) - tensor.data.count)
        }
        return out
    }

    func write(to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    private func aligned(_ n: Int) -> Int { (n + 31) / 32 * 32 }
    private func le(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0 ..< count).map { UInt8((value >> (8 * $0)) & 0xFF) }
    }
    private func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count), 8) + Array(s.utf8) }

    private func encode(_ value: GGUFValue) -> [UInt8] {
        switch value {
        case .uint8(let v): [v]
        case .int8(let v): [UInt8(bitPattern: v)]
        case .uint16(let v): le(UInt64(v), 2)
        case .int16(let v): le(UInt64(UInt16(bitPattern: v)), 2)
        case .uint32(let v): le(UInt64(v), 4)
        case .int32(let v): le(UInt64(UInt32(bitPattern: v)), 4)
        case .uint64(let v): le(v, 8)
        case .int64(let v): le(UInt64(bitPattern: v), 8)
        case .float32(let v): le(UInt64(v.bitPattern), 4)
        case .float64(let v): le(v.bitPattern, 8)
        case .bool(let v): [v ? 1 : 0]
        case .string(let v): string(v)
        case .array(let type, let elements): le(UInt64(type.rawValue), 4) + le(UInt64(elements.count), 8)
            + elements.flatMap(encode)
        }
    }
}
