/// A float32 array with its shape, as stored in a NumPy `.npy` file (C order).
public struct FloatArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// Reads and writes NumPy `.npy` files (format 1.0): little-endian float32 (`<f4`), C order. Reading also
/// accepts `<f8`, narrowed to Float.
public enum NPY {
    public static func write(_ array: FloatArray, path: String) throws {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)"
            : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // magic (6) + version (2) + length (2) + header + "\n", padded to a multiple of 64 as NumPy does.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        appendUInt16(&bytes, UInt16(header.utf8.count))
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * array.values.count)
        for value in array.values { appendUInt32(&bytes, value.bitPattern) }
        try writeFile(path: path, bytes: bytes)
    }

    public static func read(path: String) throws -> FloatArray {
        let file = try ReadableFile(path: path)
        let bytes = try file.read(at: 0, count: file.size)
        func fail(_ reason: String) -> AudioFileError { AudioFileError(path: path, reason) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw fail("not a .npy file")
        }
        let headerLength: Int
        let headerStart: Int
        switch bytes[6] {
        case 1: headerLength = Int(readUInt16(bytes, 8)); headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerLength = Int(readUInt32(bytes, 8)); headerStart = 12
        default: throw fail("unsupported .npy version \(bytes[6])")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated .npy header") }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        let width: Int
        if header.contains("'descr': '<f4'") { width = 4 }
        else if header.contains("'descr': '<f8'") { width = 8 }
        else { throw fail("only little-endian float32/float64 arrays are supported (header \(header))") }
        guard header.contains("'fortran_order': False") else { throw fail("Fortran-order arrays are not supported") }
        let key = Array("'shape': (".utf8)
        let utf8 = Array(header.utf8)
        guard let start = (0...max(0, utf8.count - key.count)).first(where: { utf8[$0..<min(utf8.count, $0 + key.count)].elementsEqual(key) }),
              let end = utf8[(start + key.count)...].firstIndex(of: UInt8(ascii: ")")) else {
            throw fail("no shape in header")
        }
        let dims = String(decoding: utf8[(start + key.count)..<end], as: UTF8.self).split(separator: ",")
            .map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for dim in dims {
            guard let value = Int(dim), value >= 0 else { throw fail("bad dimension '\(dim)' in shape") }
            shape.append(value)
        }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart >= count * width else {
            throw fail("data holds \(bytes.count - dataStart) bytes, shape \(shape) needs \(count * width)")
        }
        let values: [Float] = bytes.withUnsafeBytes { raw in
            (0..<count).map { i in
                width == 4
                    ? Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + 4 * i,
                                                                               as: UInt32.self)))
                    : Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(
                        fromByteOffset: dataStart + 8 * i, as: UInt64.self))))
            }
        }
        return FloatArray(shape: shape, values: values)
    }
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return s
    }
}
