import Checkpoint
import Testing

@Suite struct SafetensorsFileTests {
    @Test func listsSortedNamesWithShapesDtypesAndMetadata() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("m.safetensors", [
            TestTensor(name: "z.weight", dtype: "F32", shape: [2, 3], data: bytesF32([0, 1, 2, 3, 4, 5])),
            TestTensor(name: "a.bias", dtype: "BF16", shape: [1, 2], data: bytes16([0x3F80, 0x4000])),
            TestTensor(name: "m.scale", dtype: "F16", shape: [1], data: bytes16([0x3800])),
        ], metadata: ["format": "pt", "note": "x"])
        let file = try SafetensorsFile(path: path)
        #expect(file.tensorNames == ["a.bias", "m.scale", "z.weight"])
        #expect(file.metadata == ["format": "pt", "note": "x"])
        #expect(file.path == path)
        #expect(file.info("z.weight") == TensorInfo(name: "z.weight", dtype: .f32, shape: [2, 3], file: path))
        #expect(file.info("a.bias")?.dtype == .bf16)
        #expect(file.info("m.scale")?.dtype == .f16)
        #expect(file.info("z.weight")?.elementCount == 6)
        #expect(file.info("nope") == nil)
        #expect(try file.floats("z.weight") == [0, 1, 2, 3, 4, 5])   // row-major
        #expect(try file.floats("a.bias") == [1, 2])
        #expect(try file.floats("m.scale") == [0.5])
    }

    @Test func noMetadataMeansEmptyMetadata() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("m.safetensors", [TestTensor(name: "t", dtype: "F32", shape: [1], data: bytesF32([7]))])
        #expect(try SafetensorsFile(path: path).metadata == [:])
    }

    @Test func zeroDimensionalScalars() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("s.safetensors", [
            TestTensor(name: "clip.input_min", dtype: "F32", shape: [], data: bytesF32([-3.25])),
            TestTensor(name: "clip.input_max", dtype: "BF16", shape: [], data: bytes16([0x4049])),
            TestTensor(name: "clip.output_max", dtype: "F16", shape: [], data: bytes16([0x7BFF])),
        ])
        let file = try SafetensorsFile(path: path)
        let info = try #require(file.info("clip.input_min"))
        #expect(info.shape == [])
        #expect(info.elementCount == 1)
        #expect(try file.floats("clip.input_min") == [-3.25])
        #expect(try file.floats("clip.input_max") == [0x1.92p1])
        #expect(try file.floats("clip.output_max") == [65504])
    }

    @Test func tensorsWithNoElements() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("e.safetensors", [
            TestTensor(name: "empty", dtype: "F32", shape: [3, 0], data: []),
            TestTensor(name: "one", dtype: "F32", shape: [1], data: bytesF32([9])),
        ])
        let file = try SafetensorsFile(path: path)
        #expect(file.info("empty")?.elementCount == 0)
        #expect(try file.floats("empty") == [])
        #expect(try file.floats("one") == [9])
    }

    @Test func fileWithNoTensorsMapsNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("none.safetensors", fileBytes(header: "{\"__metadata__\":{\"format\":\"pt\"}}", data: []))
        let file = try SafetensorsFile(path: path)
        #expect(file.tensorNames == [])
        #expect(file.mappedRange == nil)
    }

    @Test func readsIntoACallerBuffer() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.writeSafetensors("r.safetensors", [TestTensor(name: "w", dtype: "BF16", shape: [2, 2],
                                                                          data: bytes16([0x3F80, 0x4000, 0x4040, 0x4080]))])
        let file = try SafetensorsFile(path: path)
        var out = [Float](repeating: .nan, count: 4)
        try out.withUnsafeMutableBufferPointer { try file.read("w", into: $0) }
        #expect(out == [1, 2, 3, 4])
    }

    @Test func concurrentReadsAgree() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let values = (0 ..< 4096).map { Float($0) * 0.25 }
        let path = try dir.writeSafetensors("c.safetensors", [TestTensor(name: "w", dtype: "F32", shape: [4096],
                                                                          data: bytesF32(values))])
        let file = try SafetensorsFile(path: path)
        let results = try await withThrowingTaskGroup(of: [Float].self) { group in
            for _ in 0 ..< 8 { group.addTask { try file.floats("w") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 8)
        #expect(results.allSatisfy { $0 == values })
    }
}
