import Checkpoint
import Foundation
import Testing

// GGUFFile against hand-built files (GGUFTestWriter.swift): every metadata type, the four readable tensor types
// with exact values, alignment and offsets, exposure by prefix, and every way a file can be wrong.

/// Writes `gguf` to a fresh directory as `name`; returns the directory (remove it) and the path.
private func written(_ gguf: TestGGUF, _ name: String = "test.gguf") throws -> (TemporaryDirectory, String) {
    let dir = try TemporaryDirectory()
    return (dir, try dir.write(name, gguf.bytes))
}

private let f32Values: [Float] = [1, -2.5, 0, -0.0, 3.25e-3, .greatestFiniteMagnitude]

/// A small well-formed file: a few metadata entries and one tensor of each readable type.
private func sampleFile() -> TestGGUF {
    var file = TestGGUF()
    file.metadata = [
        ("general.architecture", .string("clip")),
        ("clip.audio.block_count", .u32(2)),
        ("tokens", .array(8, [.string("a"), .string("bc")])),
    ]
    file.tensors = [
        TestGGUFTensor(name: "a.f32", ne: [3, 2], type: 0, data: bytesF32(f32Values)),
        TestGGUFTensor(name: "a.f16", ne: [4], type: 1, data: bytes16([0x3C00, 0xC000, 0x0001, 0x7BFF])),
        TestGGUFTensor(name: "a.bf16", ne: [2, 2], type: 30, data: bytes16([0x3F80, 0xC040, 0x0001, 0x7F7F])),
        TestGGUFTensor(name: "a.q8", ne: [32, 2], type: 8,
                       data: q8Block(scale: 0x3800, (0 ..< 32).map { Int8($0 * 8 - 128) })
                           + q8Block(scale: 0x1E66, (0 ..< 32).map { Int8(127 - $0 * 7) })),
    ]
    return file
}

@Suite struct GGUFFileTests {
    // MARK: Metadata

    @Test func readsEveryMetadataTypeInFileOrder() throws {
        var gguf = TestGGUF()
        gguf.metadata = [
            ("u8", .u8(200)), ("i8", .i8(-100)), ("u16", .u16(60000)), ("i16", .i16(-30000)),
            ("u32", .u32(4_000_000_000)), ("i32", .i32(-2_000_000_000)),
            ("u64", .u64(18_000_000_000_000_000_000)), ("i64", .i64(-9_000_000_000_000_000_000)),
            ("f32", .f32(1e-6)), ("f64", .f64(-0.125)), ("yes", .bool(true)), ("no", .bool(false)),
            ("text", .string("Grüße 🎧")), ("empty", .string("")),
            ("floats", .array(6, [.f32(0.5), .f32(1)])), ("none", .array(4, [])),
            ("nested", .array(9, [.array(5, [.i32(-1)]), .array(5, [])])),
        ]
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        let file = try GGUFFile(path: path)
        let m = file.metadata
        #expect(file.metadataKeys == gguf.metadata.map(\.key))
        #expect(m["u8"] == .uint8(200) && m["i8"] == .int8(-100) && m["u16"] == .uint16(60000))
        #expect(m["i16"] == .int16(-30000) && m["u32"] == .uint32(4_000_000_000))
        #expect(m["i32"] == .int32(-2_000_000_000) && m["u64"] == .uint64(18_000_000_000_000_000_000))
        #expect(m["i64"] == .int64(-9_000_000_000_000_000_000))
        #expect(m["f32"] == .float32(1e-6) && m["f64"] == .float64(-0.125))
        #expect(m["yes"]?.boolValue == true && m["no"]?.boolValue == false)
        #expect(m["text"]?.stringValue == "Grüße 🎧" && m["empty"]?.stringValue == "")
        #expect(m["floats"] == .array(.float32, [.float32(0.5), .float32(1)]))
        #expect(m["none"] == .array(.uint32, []))
        #expect(m["nested"] == .array(.array, [.array(.int32, [.int32(-1)]), .array(.int32, [])]))
        // Accessors: any integer type that fits, either float type, nothing across kinds.
        #expect(m["u8"]?.integerValue == 200 && m["i64"]?.integerValue == -9_000_000_000_000_000_000)
        #expect(m["u64"]?.integerValue == nil)   // does not fit in Int
        #expect(m["f32"]?.floatValue == Double(Float(1e-6)) && m["f32"]?.integerValue == nil)
        #expect(m["text"]?.integerValue == nil && m["u32"]?.stringValue == nil)
        #expect(file.tensors.isEmpty && file.tensorNames.isEmpty)
    }

    // MARK: Tensors

    @Test func readsF32F16BF16AndQ8_0Exactly() throws {
        let gguf = sampleFile()
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        let file = try GGUFFile(path: path)
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file.tensorNames == ["a.bf16", "a.f16", "a.f32", "a.q8"])
        #expect(file.tensors.map(\.name) == ["a.f32", "a.f16", "a.bf16", "a.q8"])   // file order

        // Shapes: ne is fastest-first; TensorSource shapes are PyTorch order.
        let f32 = try #require(file.tensor("a.f32"))
        #expect(f32.dimensions == [3, 2] && f32.shape == [2, 3] && f32.type == .f32 && f32.byteCount == 24)
        #expect(file.info("a.f32") == TensorInfo(name: "a.f32", dtype: .f32, shape: [2, 3], file: path))
        #expect(try file.floats("a.f32").map(\.bitPattern) == f32Values.map(\.bitPattern))

        #expect(file.info("a.f16")?.dtype == .f16)
        #expect(try file.floats("a.f16") == [1, -2, Float(sign: .plus, exponent: -24, significand: 1), 65504])

        #expect(file.info("a.bf16")?.dtype == .bf16 && file.info("a.bf16")?.shape == [2, 2])
        #expect(try file.floats("a.bf16") == [1, -3, Float(bitPattern: 0x0001_0000),
                                              Float(bitPattern: 0x7F7F_0000)])

        // Q8_0: element j of a block is Float(q[j]) × Float(scale), one rounding.
        let q8 = try #require(file.tensor("a.q8"))
        #expect(q8.type == .q8_0 && q8.type.name == "Q8_0" && q8.byteCount == 68 && q8.shape == [2, 32])
        #expect(file.info("a.q8")?.dtype == .f32)   // TensorDType has no Q8_0: reported as what reads produce
        let (scale0, scale1) = (halfValue(0x3800), halfValue(0x1E66))
        let block0: [Float] = (0 ..< 32).map { (j: Int) -> Float in Float(j * 8 - 128) * scale0 }
        let block1: [Float] = (0 ..< 32).map { (j: Int) -> Float in Float(127 - j * 7) * scale1 }
        let expected: [UInt32] = (block0 + block1).map(\.bitPattern)
        #expect(try file.floats("a.q8").map(\.bitPattern) == expected)
    }

    @Test func tensorOffsetsCountFromTheAlignedDataSection() throws {
        let gguf = sampleFile()
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        let file = try GGUFFile(path: path)
        #expect(file.dataOffset == gguf.sections.data && file.dataOffset % 32 == 0)
        for (tensor, offset) in zip(file.tensors, gguf.offsets) {
            #expect(tensor.offset == Int(offset))
            #expect(tensor.fileRange?.lowerBound == file.dataOffset + Int(offset))
        }
        #expect(file.fileSize == gguf.bytes.count)
    }

    @Test func alignmentComesFromGeneralAlignment() throws {
        var gguf = sampleFile()
        gguf.alignment = 256
        gguf.metadata.append(("general.alignment", .u32(256)))
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        let file = try GGUFFile(path: path)
        #expect(file.alignment == 256 && file.dataOffset % 256 == 0)
        #expect(file.tensors.allSatisfy { $0.offset % 256 == 0 })
        #expect(try file.floats("a.f32").map(\.bitPattern) == f32Values.map(\.bitPattern))
        #expect(try file.floats("a.f16") == [1, -2, Float(sign: .plus, exponent: -24, significand: 1), 65504])
    }

    @Test func prefixesChooseWhatIsExposedAndOnlyExposedTypesMustBeReadable() throws {
        var gguf = sampleFile()
        gguf.tensors += [
            TestGGUFTensor(name: "v.q4k", ne: [256], type: 12, data: [UInt8](repeating: 1, count: 144)),
            TestGGUFTensor(name: "v.future", ne: [4], type: 77, data: [UInt8](repeating: 2, count: 16)),
        ]
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        let audio = try GGUFFile(path: path, prefixes: ["a."])
        #expect(audio.tensorNames == ["a.bf16", "a.f16", "a.f32", "a.q8"])
        #expect(audio.tensors.count == 6)
        #expect(audio.tensor("v.q4k")?.type.name == "Q4_K" && audio.tensor("v.q4k")?.byteCount == 144)
        #expect(audio.tensor("v.future")?.type.name == "type 77" && audio.tensor("v.future")?.byteCount == nil)
        #expect(audio.info("v.q4k") == nil)
        expectError(.noSuchTensor, file: path, tensor: "v.q4k") { _ = try audio.floats("v.q4k") }

        let none = try GGUFFile(path: path, prefixes: [])
        #expect(none.tensorNames.isEmpty)
        expectError(.unsupportedDType, file: path, tensor: "v.q4k", mentions: ["Q4_K", "F32, F16, BF16, Q8_0"]) {
            _ = try GGUFFile(path: path)
        }
        expectError(.unsupportedDType, file: path, tensor: "v.future", mentions: ["type 77"]) {
            _ = try GGUFFile(path: path, prefixes: ["a.", "v.f"])
        }
    }

    @Test func removedTypesAreNamed() throws {
        var gguf = TestGGUF()
        gguf.tensors = [TestGGUFTensor(name: "old", ne: [32], type: 4, data: [UInt8](repeating: 0, count: 20))]
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        expectError(.unsupportedDType, file: path, tensor: "old", mentions: ["Q4_2", "removed"]) {
            _ = try GGUFFile(path: path)
        }
        let skipped = try GGUFFile(path: path, prefixes: ["a."]).tensor("old")
        #expect(skipped?.type.description == "Q4_2 (removed from ggml)")
    }

    @Test func readErrors() throws {
        let (dir, path) = try written(sampleFile())
        defer { dir.remove() }
        let file = try GGUFFile(path: path)
        expectError(.noSuchTensor, file: path, tensor: "nope") { _ = try file.floats("nope") }
        var small = [Float](repeating: 0, count: 5)
        expectError(.destinationSizeMismatch, file: path, tensor: "a.f32", mentions: ["5", "6"]) {
            try small.withUnsafeMutableBufferPointer { try file.read("a.f32", into: $0) }
        }
    }

    @Test func recognisesTheMagic() throws {
        let (dir, path) = try written(sampleFile(), "model.bin")
        defer { dir.remove() }
        #expect(GGUFFile.startsWithMagic(path: path))
        #expect(!GGUFFile.startsWithMagic(path: try dir.write("short", [0x47, 0x47])))
        #expect(!GGUFFile.startsWithMagic(path: try dir.write("st.safetensors", fileBytes(header: "{}", data: []))))
        #expect(!GGUFFile.startsWithMagic(path: dir.path + "/absent"))
    }

    // MARK: Errors: the header

    @Test func badMagic() throws {
        var gguf = sampleFile()
        gguf.magic = Array("GGML".utf8)
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        expectError(.headerInvalid, file: path, mentions: ["not a GGUF file", "47 47 4D 4C"]) {
            _ = try GGUFFile(path: path)
        }
        let safetensors = try dir.write("model.safetensors", fileBytes(header: "{}", data: []))
        expectError(.headerInvalid, file: safetensors, mentions: ["not a GGUF file"]) {
            _ = try GGUFFile(path: safetensors)
        }
    }

    @Test(arguments: [(UInt32(2), "version 2"), (1, "version 1"), (4, "version 4"),
                      (0x0300_0000, "big-endian")])
    func unsupportedVersion(version: UInt32, mention: String) throws {
        var gguf = sampleFile()
        gguf.version = version
        let (dir, path) = try written(gguf)
        defer { dir.remove() }
        expectError(.headerInvalid, file: path, mentions: [mention, "not supported, only version 3"]) {
            _ = try GGUFFile(path: path)
        }
    }

    /// Every proper prefix of a valid file is refused with an error that says the file is truncated.
    @Test func everyTruncationIsRefused() throws {
        let bytes = sampleFile().bytes
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var codes: [String: Int] = [:]
        for length in 0 ..< bytes.count {
            let path = try dir.write("cut-\(length).gguf", Array(bytes[..<length]))
            let error = #expect(throws: CheckpointError.self, "\(length) bytes") { _ = try GGUFFile(path: path) }
            guard let error else { continue }
            codes[error.code.description, default: 0] += 1
            #expect(error.code == .truncated || error.code == .headerInvalid, "\(length): \(error)")
            #expect(error.description.contains("truncated"), "\(length): \(error)")
        }
        #expect(codes["truncated", default: 0] > bytes.count / 2)
        #expect(try GGUFFile(path: try dir.write("whole.gguf", bytes)).tensors.count == 4)
    }

    @Test func truncatedTensorDataNamesTheTensor() throws {
        let bytes = sampleFile().bytes
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("cut.gguf", Array(bytes.dropLast()))
        expectError(.truncated, file: path, tensor: "a.q8", mentions: ["Q8_0", "truncated"]) {
            _ = try GGUFFile(path: path)
        }
        let empty = try dir.write("empty.gguf", [])
        expectError(.truncated, file: empty, mentions: ["0 bytes", "24-byte GGUF header"]) {
            _ = try GGUFFile(path: empty)
        }
    }

    @Test func absurdCounts() throws {
        var tensors = sampleFile()
        tensors.tensorCount = .max
        var kvs = sampleFile()
        kvs.metadataCount = 1 << 40
        var array = TestGGUF()
        array.metadata = [("big", .raw(type: 9, bytes: le(4, 4) + le(1 << 50, 8)))]
        for (gguf, mention) in [(tensors, "tensor count 18446744073709551615 is absurd"),
                                (kvs, "metadata count 1099511627776 is absurd"),
                                (array, "metadata 'big' claims 1125899906842624 UINT32 elements")] {
            let (dir, path) = try written(gguf)
            defer { dir.remove() }
            expectError(.headerInvalid, file: path, mentions: [mention]) { _ = try GGUFFile(path: path) }
        }

        var string = TestGGUF()
        string.metadata = [("name", .raw(type: 8, bytes: le(.max, 8)))]
        let (dir, path) = try written(string)
        defer { dir.remove() }
        expectError(.truncated, file: path, mentions: ["metadata 'name' is 18446744073709551615 bytes long"]) {
            _ = try GGUFFile(path: path)
        }
    }

    @Test func malformedMetadata() throws {
        let cases: [(String, TestValue, String)] = [
            ("odd", .raw(type: 13, bytes: [0]), "value type 13"),
            ("flag", .raw(type: 7, bytes: [2]), "BOOL stored as 2"),
            ("list", .raw(type: 9, bytes: le(42, 4) + le(0, 8)), "array of type 42"),
            ("general.alignment", .u32(48), "not a positive power of two"),
            ("general.alignment", .u32(0), "not a positive power of two"),
            ("general.alignment", .string("32"), "not a positive power of two"),
        ]
        for (key, value, mention) in cases {
            var gguf = sampleFile()
            gguf.metadata.append((key, value))
            let (dir, path) = try written(gguf)
            defer { dir.remove() }
            expectError(.headerInvalid, file: path, mentions: [mention]) { _ = try GGUFFile(path: path) }
        }

        var duplicate = sampleFile()
        duplicate.metadata.append(("clip.audio.block_count", .u32(3)))
        var badUTF8 = sampleFile()
        badUTF8.metadata.append(("x", .raw(type: 8, bytes: le(2, 8) + [0xC3, 0x28])))
        var deep = TestValue.array(4, [.u32(1)])
        for _ in 0 ..< 9 { deep = .array(9, [deep]) }
        var nested = sampleFile()
        nested.metadata.append(("deep", deep))
        for (gguf, mention) in [(duplicate, "'clip.audio.block_count' appears twice"),
                                (badUTF8, "metadata 'x' is not valid UTF-8"),
                                (nested, "nests arrays more than 8 deep")] {
            let (dir, path) = try written(gguf)
            defer { dir.remove() }
            expectError(.headerInvalid, file: path, mentions: [mention]) { _ = try GGUFFile(path: path) }
        }
    }

    // MARK: Errors: tensor infos and data

    @Test func malformedTensorInfos() throws {
        var fiveDims = sampleFile()
        fiveDims.tensors[0].ne = [1, 1, 3, 2, 1]
        var misaligned = sampleFile()
        misaligned.tensors[1].offset = 100
        var partialBlock = sampleFile()
        partialBlock.tensors[3].ne = [48, 1]
        partialBlock.tensors[3].data = Array(partialBlock.tensors[3].data[..<51])
        var huge = sampleFile()
        huge.tensors[0].ne = [1 << 62, 1 << 62]
        var absurd = sampleFile()
        absurd.tensors[0].ne = [.max]
        // No elements, but its PyTorch shape [2^40, 2^40, 0] overflowed TensorInfo.elementCount (found by fuzzing).
        var emptyButHuge = sampleFile()
        emptyButHuge.tensors[0].ne = [0, 1 << 40, 1 << 40]
        emptyButHuge.tensors[0].data = []
        for (gguf, tensor, mention) in [(fiveDims, "a.f32", "n_dims is 5"),
                                        (emptyButHuge, "a.f32", "too many elements"),
                                        (misaligned, "a.f16", "not a multiple of the alignment 32"),
                                        (partialBlock, "a.q8", "ne[0] = 48 is not a multiple of Q8_0's block of 32"),
                                        (huge, "a.f32", "too many elements"),
                                        (absurd, "a.f32", "is absurd")] {
            let (dir, path) = try written(gguf)
            defer { dir.remove() }
            expectError(.entryInvalid, file: path, tensor: tensor, mentions: [mention]) { _ = try GGUFFile(path: path) }
        }
    }

    @Test func duplicateOverlappingAndOutOfBoundsTensors() throws {
        var duplicate = sampleFile()
        duplicate.tensors[2].name = "a.f32"
        var overlapping = sampleFile()
        overlapping.tensors[1].offset = 0   // a.f16 over a.f32's first 8 bytes
        for (gguf, code, tensor, mention) in [
            (duplicate, CheckpointError.Code.duplicateTensor, "a.f32", "two tensor infos"),
            (overlapping, .overlappingTensors, "a.f32", "overlaps tensor 'a.f16'"),
        ] {
            let (dir, path) = try written(gguf)
            defer { dir.remove() }
            expectError(code, file: path, tensor: tensor, mentions: [mention]) { _ = try GGUFFile(path: path) }
        }

        // A tensor whose data starts past the end of the file (the writer pads up to it; the file is then cut).
        let length = sampleFile().bytes.count
        var beyond = sampleFile()
        beyond.tensors[3].offset = 1 << 16
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("beyond.gguf", Array(beyond.bytes[..<length]))
        expectError(.truncated, file: path, tensor: "a.q8", mentions: ["beyond the end", "truncated"]) {
            _ = try GGUFFile(path: path)
        }
    }

    @Test func missingFileAndDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        expectError(.fileUnreadable, file: dir.path + "/absent.gguf", mentions: ["No such file"]) {
            _ = try GGUFFile(path: dir.path + "/absent.gguf")
        }
        expectError(.fileUnreadable, file: dir.path, mentions: ["not a regular file"]) {
            _ = try GGUFFile(path: dir.path)
        }
    }
}
