import Checkpoint
import Foundation
import Testing

private let config = #"{"model_type": "gemma4", "audio_config": {"hidden_size": 8}}"#

/// The index JSON for `weightMap`, as transformers writes it.
func indexJSON(_ weightMap: [String: String], totalSize: Int = 0) -> String {
    let pairs = weightMap.sorted { $0.key < $1.key }.map { "    \"\($0.key)\": \"\($0.value)\"" }
    return "{\n  \"metadata\": {\"total_size\": \(totalSize)},\n  \"weight_map\": {\n"
        + pairs.joined(separator: ",\n") + "\n  }\n}\n"
}

/// A sharded model directory: three shards, the third holding only text-model tensors.
///
///     shard 1: audio.a (F32 [2]),  text.x (BF16 [2])       — "text.x" stored after the audio tensor
///     shard 2: text.y (F32 [1]),   audio.b (BF16 [2, 2])   — "text.y" stored before it
///              embed.p (F16 []),   text.z (I64 [1])        — an unreadable dtype outside the prefixes
///     shard 3: text.w (F32 [3])
private func writeShardedModel(_ dir: TemporaryDirectory) throws -> [String: String] {
    try dir.write("config.json", text: config)
    try dir.writeSafetensors("model-00001-of-00003.safetensors", [
        TestTensor(name: "audio.a", dtype: "F32", shape: [2], data: bytesF32([1.5, -2.5])),
        TestTensor(name: "text.x", dtype: "BF16", shape: [2], data: bytes16([0x3F80, 0x4000])),
    ])
    try dir.writeSafetensors("model-00002-of-00003.safetensors", [
        TestTensor(name: "text.y", dtype: "F32", shape: [1], data: bytesF32([9])),
        TestTensor(name: "audio.b", dtype: "BF16", shape: [2, 2], data: bytes16([0x3F81, 0xC2F7, 0x0001, 0x7F80])),
        TestTensor(name: "embed.p", dtype: "F16", shape: [], data: bytes16([0x3555])),
        TestTensor(name: "text.z", dtype: "I64", shape: [1], data: [7, 0, 0, 0, 0, 0, 0, 0]),
    ])
    try dir.writeSafetensors("model-00003-of-00003.safetensors", [
        TestTensor(name: "text.w", dtype: "F32", shape: [3], data: bytesF32([1, 2, 3])),
    ])
    let weightMap = [
        "audio.a": "model-00001-of-00003.safetensors", "text.x": "model-00001-of-00003.safetensors",
        "text.y": "model-00002-of-00003.safetensors", "audio.b": "model-00002-of-00003.safetensors",
        "embed.p": "model-00002-of-00003.safetensors", "text.z": "model-00002-of-00003.safetensors",
        "text.w": "model-00003-of-00003.safetensors",
    ]
    try dir.write("model.safetensors.index.json", text: indexJSON(weightMap))
    return weightMap
}

@Suite struct DirectoryTests {
    @Test func singleFileDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        let weights = try dir.writeSafetensors("model.safetensors", [
            TestTensor(name: "model.audio_tower.w", dtype: "BF16", shape: [2], data: bytes16([0x3F80, 0xBF80])),
            TestTensor(name: "model.language_model.w", dtype: "F32", shape: [1], data: bytesF32([5])),
        ])
        let checkpoint = try HFCheckpointDirectory(path: dir.path, prefixes: ["model.audio_tower."])
        #expect(checkpoint.directory == dir.path)
        #expect(checkpoint.configData == Data(config.utf8))
        #expect(checkpoint.tensorNames == ["model.audio_tower.w"])
        #expect(checkpoint.info("model.audio_tower.w") == TensorInfo(name: "model.audio_tower.w", dtype: .bf16,
                                                                     shape: [2], file: weights))
        #expect(try checkpoint.floats("model.audio_tower.w") == [1, -1])
        #expect(checkpoint.info("model.language_model.w") == nil)
    }

    @Test func shardedDirectoryWithIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try writeShardedModel(dir)
        let checkpoint = try HFCheckpointDirectory(path: dir.path, prefixes: ["audio.", "embed."])
        #expect(checkpoint.tensorNames == ["audio.a", "audio.b", "embed.p"])
        #expect(checkpoint.info("audio.a")?.file == dir.path + "/model-00001-of-00003.safetensors")
        #expect(checkpoint.info("audio.b") == TensorInfo(name: "audio.b", dtype: .bf16, shape: [2, 2],
                                                          file: dir.path + "/model-00002-of-00003.safetensors"))
        #expect(checkpoint.info("embed.p")?.shape == [])
        #expect(try checkpoint.floats("audio.a") == [1.5, -2.5])
        #expect(try checkpoint.floats("audio.b") == [0x1.02p0, -0x1.EEp6, 0x1p-133, .infinity])
        #expect(try checkpoint.floats("embed.p") == [0x1.554p-2])
    }

    @Test func prefixFilterHidesEverythingElse() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let weightMap = try writeShardedModel(dir)
        let checkpoint = try HFCheckpointDirectory(path: dir.path, prefixes: ["audio.", "embed."])
        for name in weightMap.keys where name.hasPrefix("text.") {
            #expect(!checkpoint.tensorNames.contains(name))
            #expect(checkpoint.info(name) == nil)
            expectError(.noSuchTensor, file: dir.path, tensor: name) { _ = try checkpoint.floats(name) }
            var buffer = [Float](repeating: 0, count: 3)
            expectError(.noSuchTensor, file: dir.path, tensor: name) {
                try buffer.withUnsafeMutableBufferPointer { try checkpoint.read(name, into: $0) }
            }
        }
    }

    @Test func onlyWantedBytesAreMapped() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try writeShardedModel(dir)
        let checkpoint = try HFCheckpointDirectory(path: dir.path, prefixes: ["audio.", "embed."])
        let ranges = checkpoint.mappedRanges
        let shard1 = dir.path + "/model-00001-of-00003.safetensors"
        let shard2 = dir.path + "/model-00002-of-00003.safetensors"
        // Shard 3 holds no wanted tensor, so it is not mapped at all.
        #expect(Set(ranges.keys) == [shard1, shard2])
        // Each mapped range spans exactly the wanted tensors' bytes, which here are contiguous.
        func dataStart(_ path: String) throws -> Int {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            return 8 + bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        }
        let (start1, start2) = (try dataStart(shard1), try dataStart(shard2))
        #expect(ranges[shard1] == start1 ..< start1 + 8)         // audio.a, not text.x after it
        #expect(ranges[shard2] == start2 + 4 ..< start2 + 14)    // audio.b and embed.p, not text.y before them
    }

    @Test func emptyPrefixExposesEverythingAndNoPrefixesExposeNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors("model.safetensors", [
            TestTensor(name: "a", dtype: "F32", shape: [1], data: bytesF32([1])),
            TestTensor(name: "b", dtype: "F16", shape: [1], data: bytes16([0x3C00])),
        ])
        #expect(try HFCheckpointDirectory(path: dir.path, prefixes: [""]).tensorNames == ["a", "b"])
        let none = try HFCheckpointDirectory(path: dir.path, prefixes: [])
        #expect(none.tensorNames == [])
        #expect(none.mappedRanges.isEmpty)
    }

    @Test func unreadableDTypeIsAnErrorOnlyWhenExposed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try writeShardedModel(dir)
        _ = try HFCheckpointDirectory(path: dir.path, prefixes: ["audio."])
        expectError(.unsupportedDType, file: dir.path + "/model-00002-of-00003.safetensors", tensor: "text.z",
                    mentions: ["I64"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: ["audio.", "text."])
        }
    }

    @Test func trailingSlashInThePath() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try writeShardedModel(dir)
        let checkpoint = try HFCheckpointDirectory(path: dir.path + "/", prefixes: ["audio."])
        #expect(checkpoint.info("audio.a")?.file == dir.path + "/model-00001-of-00003.safetensors")
    }

    @Test func singleFileWinsOverAnIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try writeShardedModel(dir)
        try dir.writeSafetensors("model.safetensors", [TestTensor(name: "audio.only", dtype: "F32", shape: [], data: bytesF32([4]))])
        let checkpoint = try HFCheckpointDirectory(path: dir.path, prefixes: ["audio."])
        #expect(checkpoint.tensorNames == ["audio.only"])
    }
}
