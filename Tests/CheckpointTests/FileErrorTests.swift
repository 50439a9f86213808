import Checkpoint
import Foundation
import Testing

/// Expects `body` to throw a `CheckpointError` of `code` whose description names `file`, `tensor` (when given) and
/// every string in `mentions`.
func expectError(
    _ code: CheckpointError.Code, file: String, tensor: String? = nil, mentions: [String] = [],
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
    let error = #expect(throws: CheckpointError.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return }
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    #expect(error.file == file, sourceLocation: sourceLocation)
    #expect(error.description.contains(file), "\(error)", sourceLocation: sourceLocation)
    #expect(error.tensor == tensor, "\(error)", sourceLocation: sourceLocation)
    if let tensor {
        #expect(error.description.contains("'\(tensor)'"), "\(error)", sourceLocation: sourceLocation)
    }
    for word in mentions {
        #expect(error.description.contains(word), "\(error) should mention \(word)", sourceLocation: sourceLocation)
    }
}

/// A file with one entry for tensor "bad" whose JSON body is `entry` and whose data is `data`.
private func oneEntry(_ entry: String, data: [UInt8] = [0, 0, 0, 0]) throws -> (TemporaryDirectory, String) {
    let dir = try TemporaryDirectory()
    let path = try dir.write("bad.safetensors", fileBytes(header: "{\"ok\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                                                          + "\"bad\":\(entry)}", data: [0, 0, 0, 0] + data))
    return (dir, path)
}

@Suite struct FileErrorTests {
    // MARK: The file itself

    @Test func missingFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/absent.safetensors"
        expectError(.fileUnreadable, file: path, mentions: ["No such file"]) { _ = try SafetensorsFile(path: path) }
    }

    @Test func directoryInsteadOfFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        expectError(.fileUnreadable, file: dir.path, mentions: ["not a regular file"]) {
            _ = try SafetensorsFile(path: dir.path)
        }
    }

    @Test(.enabled(if: getuid() != 0, "root can read files without permission"))
    func unreadableFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("locked.safetensors", [TestTensor(name: "t", dtype: "F32", shape: [], data: bytesF32([1]))])
        chmod(path, 0)
        expectError(.fileUnreadable, file: path, mentions: ["Permission denied"]) { _ = try SafetensorsFile(path: path) }
    }

    @Test func pathThroughAFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = try dir.write("plain", [1, 2, 3])
        let path = file + "/model.safetensors"
        expectError(.fileUnreadable, file: path, mentions: ["Not a directory", "open"]) { _ = try SafetensorsFile(path: path) }
    }

    @Test(arguments: [0, 1, 7])
    func shorterThanEightBytes(size: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("short.safetensors", [UInt8](repeating: 0, count: size))
        expectError(.fileTooShort, file: path, mentions: ["\(size) bytes"]) { _ = try SafetensorsFile(path: path) }
    }

    @Test func headerLengthBeyondTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("long.safetensors", fileBytes(headerLength: 64, rest: Array("{}".utf8)))
        expectError(.headerLengthInvalid, file: path, mentions: ["64", "runs past the end"]) {
            _ = try SafetensorsFile(path: path)
        }
    }

    @Test(arguments: [UInt64(100_000_001), UInt64(1) << 40, UInt64.max])
    func absurdHeaderLength(length: UInt64) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("absurd.safetensors", fileBytes(headerLength: length, rest: Array("{}".utf8)))
        expectError(.headerLengthInvalid, file: path, mentions: ["\(length)", "limit"]) {
            _ = try SafetensorsFile(path: path)
        }
    }

    // MARK: The header as JSON

    // (Foundation's parser accepts a trailing comma, as in {"a":1,}; that leniency is harmless and not tested.)
    @Test(arguments: ["", "{", "{\"a\": }", "not json", "{\"a\":{} \"b\":{}}", "{\"a\":{}}}"])
    func headerNotJSON(header: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("h.safetensors", fileBytes(header: header, data: []))
        expectError(.headerInvalid, file: path, mentions: ["not valid JSON"]) { _ = try SafetensorsFile(path: path) }
    }

    @Test(arguments: ["[]", "[1, 2]", "\"text\"", "42", "null"])
    func headerNotAnObject(header: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("h.safetensors", fileBytes(header: header, data: []))
        expectError(.headerInvalid, file: path, mentions: ["not a JSON object"]) { _ = try SafetensorsFile(path: path) }
    }

    @Test func headerNotUTF8() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("h.safetensors", fileBytes(headerLength: 4, rest: [0x7B, 0xFF, 0xFE, 0x7D]))
        expectError(.headerInvalid, file: path) { _ = try SafetensorsFile(path: path) }
    }

    @Test func metadataNotStrings() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("h.safetensors", fileBytes(header: "{\"__metadata__\":{\"n\":3}}", data: []))
        expectError(.headerInvalid, file: path, mentions: ["__metadata__"]) { _ = try SafetensorsFile(path: path) }
    }

    // MARK: One tensor entry

    @Test(arguments: [
        ("5", "not a JSON object"),
        ("[0, 4]", "not a JSON object"),
        ("{\"shape\":[1],\"data_offsets\":[4,8]}", "no dtype"),
        ("{\"dtype\":\"F32\",\"data_offsets\":[4,8]}", "no shape"),
        ("{\"dtype\":\"F32\",\"shape\":[1]}", "no data_offsets"),
        ("{\"dtype\":7,\"shape\":[1],\"data_offsets\":[4,8]}", "dtype is not a string"),
        ("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[4,8]}", "negative"),
        ("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[4,8]}", "shape is not an array of integers"),
        ("{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[4,8]}", "shape is not an array of integers"),
        ("{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[4,8]}", "shape is not an array of integers"),
        ("{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[4,8]}", "shape is not an array of integers"),
        ("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[4,8]}", "too many elements"),
        ("{\"dtype\":\"F32\",\"shape\":[0,1099511627776,1099511627776],\"data_offsets\":[4,4]}", "too many elements"),
        ("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}", "0 ≤ begin ≤ end"),
        ("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}", "0 ≤ begin ≤ end"),
        ("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8,12]}", "0 ≤ begin ≤ end"),
        ("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}", "0 ≤ begin ≤ end"),
        ("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4.5,8]}", "data_offsets is not an array of integers"),
        ("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"4-8\"}", "data_offsets is not an array of integers"),
    ])
    func malformedEntry(entry: String, complaint: String) throws {
        let (dir, path) = try oneEntry(entry)
        defer { dir.remove() }
        expectError(.entryInvalid, file: path, tensor: "bad", mentions: [complaint]) { _ = try SafetensorsFile(path: path) }
    }

    @Test(arguments: ["I64", "F64", "U8", "BOOL", "F8_E4M3", "I32", "Q4_K"])
    func unsupportedDType(dtype: String) throws {
        let width = ["I64": 8, "F64": 8, "I32": 4][dtype] ?? 1   // Q4_K is unknown to the format: no size check
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("d.safetensors", [
            TestTensor(name: "fine", dtype: "F32", shape: [1], data: bytesF32([1])),
            TestTensor(name: "model.ids", dtype: dtype, shape: [8 / width], data: [UInt8](repeating: 0, count: 8)),
        ])
        expectError(.unsupportedDType, file: path, tensor: "model.ids", mentions: ["dtype \(dtype)"]) {
            _ = try SafetensorsFile(path: path)
        }
    }

    @Test(arguments: [
        ("F32", [3], 8), ("F32", [3], 16), ("F16", [2, 2], 6), ("BF16", [], 4), ("F32", [0], 4), ("I64", [1], 4),
    ] as [(String, [Int], Int)])
    func byteSizeMismatch(dtype: String, shape: [Int], bytes: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("b.safetensors", [
            TestTensor(name: "w", dtype: dtype, shape: shape, data: [UInt8](repeating: 0, count: bytes)),
        ])
        expectError(.byteSizeMismatch, file: path, tensor: "w", mentions: ["\(bytes) bytes"]) {
            _ = try SafetensorsFile(path: path)
        }
    }

    @Test(arguments: [1, 3, 8])
    func truncatedFile(missing: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (header, data) = layout([
            TestTensor(name: "a", dtype: "F32", shape: [2], data: bytesF32([1, 2])),
            TestTensor(name: "b", dtype: "F32", shape: [2], data: bytesF32([3, 4])),
        ])
        let whole = fileBytes(header: header, data: data)
        let path = try dir.write("cut.safetensors", Array(whole.dropLast(missing)))
        expectError(.truncated, file: path, tensor: "b", mentions: ["[8, 16)", "truncated"]) {
            _ = try SafetensorsFile(path: path)
        }
    }

    @Test(arguments: [(0, 8), (4, 12), (2, 6), (0, 16)] as [(Int, Int)])
    func overlappingTensors(begin: Int, end: Int) throws {
        // "a" holds [4, 12); "b" claims [begin, end) with the same byte count when it is 8 bytes.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let bCount = (end - begin) / 4
        let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[\(bCount)],\"data_offsets\":[\(begin),\(end)]}}"
        let path = try dir.write("o.safetensors", fileBytes(header: header, data: [UInt8](repeating: 0, count: 16)))
        let error = #expect(throws: CheckpointError.self) { _ = try SafetensorsFile(path: path) }
        #expect(error?.code == .overlappingTensors)
        #expect(error?.description.contains(path) == true)
        // Whichever starts later is the one reported; the other is named in the message.
        let names = [error?.tensor ?? "", error?.description ?? ""]
        #expect(names[1].contains("'a'") && names[1].contains("'b'"), "\(String(describing: error))")
    }

    @Test func adjacentAndEmptyTensorsDoNotOverlap() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"
        let path = try dir.write("adj.safetensors", fileBytes(header: header, data: bytesF32([1, 2])))
        let file = try SafetensorsFile(path: path)
        #expect(try file.floats("a") == [1])
        #expect(try file.floats("b") == [2])
        #expect(try file.floats("e") == [])
    }

    // MARK: Reads

    @Test func readingAnUnknownName() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("n.safetensors", [TestTensor(name: "t", dtype: "F32", shape: [1], data: bytesF32([1]))])
        let file = try SafetensorsFile(path: path)
        expectError(.noSuchTensor, file: path, tensor: "model.missing") { _ = try file.floats("model.missing") }
        var buffer = [Float](repeating: 0, count: 1)
        expectError(.noSuchTensor, file: path, tensor: "model.missing") {
            try buffer.withUnsafeMutableBufferPointer { try file.read("model.missing", into: $0) }
        }
    }

    @Test(arguments: [0, 5, 7])
    func destinationOfTheWrongSize(count: Int) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("n.safetensors", [TestTensor(name: "t", dtype: "F32", shape: [2, 3],
                                                                          data: bytesF32([1, 2, 3, 4, 5, 6]))])
        let file = try SafetensorsFile(path: path)
        var buffer = [Float](repeating: -1, count: count)
        expectError(.destinationSizeMismatch, file: path, tensor: "t", mentions: ["\(count) floats", "6 elements"]) {
            try buffer.withUnsafeMutableBufferPointer { try file.read("t", into: $0) }
        }
        #expect(buffer.allSatisfy { $0 == -1 })   // nothing written
    }
}
