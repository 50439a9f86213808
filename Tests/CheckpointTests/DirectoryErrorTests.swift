import Checkpoint
import Foundation
import Testing

private let config = #"{"model_type": "gemma4"}"#
private let shard1 = "model-00001-of-00002.safetensors"
private let shard2 = "model-00002-of-00002.safetensors"

private func tensor(_ name: String, _ value: Float) -> TestTensor {
    TestTensor(name: name, dtype: "F32", shape: [1], data: bytesF32([value]))
}

@Suite struct DirectoryErrorTests {
    @Test func missingConfig() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.writeSafetensors("model.safetensors", [tensor("a", 1)])
        expectError(.configMissing, file: dir.path + "/config.json", mentions: ["config.json"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }

    @Test func missingDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/nowhere"
        expectError(.configMissing, file: path + "/config.json") {
            _ = try HFCheckpointDirectory(path: path, prefixes: [""])
        }
    }

    @Test func neitherWeightsNorIndex() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors("pytorch_model-00001.safetensors", [tensor("a", 1)])   // not a name we read
        expectError(.noWeights, file: dir.path, mentions: ["model.safetensors", "model.safetensors.index.json"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }

    @Test func malformedSingleFileIsReportedWithItsPath() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        let path = try dir.write("model.safetensors", fileBytes(headerLength: 4, rest: Array("[1]}".utf8)))
        expectError(.headerInvalid, file: path) { _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""]) }
    }

    @Test(arguments: [
        "not json",
        "[]",
        #"{"metadata": {}}"#,
        #"{"weight_map": ["a"]}"#,
        #"{"weight_map": {"a": 1}}"#,
    ])
    func invalidIndex(index: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        let path = try dir.write("model.safetensors.index.json", text: index)
        expectError(.indexInvalid, file: path, mentions: ["weight_map"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }

    @Test func indexNamesAMissingShard() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors(shard1, [tensor("a", 1)])
        let index = try dir.write("model.safetensors.index.json", text: indexJSON(["a": shard1, "b": shard2]))
        expectError(.shardMissing, file: index, tensor: "b", mentions: [dir.path + "/" + shard2, "does not exist"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: ["a"])   // even though "b" is not wanted
        }
    }

    @Test func indexNamesATensorTheShardLacks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors(shard1, [tensor("a", 1)])
        try dir.writeSafetensors(shard2, [tensor("b", 2)])
        let index = indexJSON(["a": shard1, "b": shard2, "c": shard2])
        try dir.write("model.safetensors.index.json", text: index)
        expectError(.indexShardMismatch, file: dir.path + "/" + shard2, tensor: "c", mentions: ["does not contain"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }

    @Test func shardHoldsATensorTheIndexDoesNotList() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors(shard1, [tensor("a", 1), tensor("stray", 3)])
        try dir.writeSafetensors(shard2, [tensor("b", 2)])
        try dir.write("model.safetensors.index.json", text: indexJSON(["a": shard1, "b": shard2]))
        expectError(.indexShardMismatch, file: dir.path + "/" + shard1, tensor: "stray", mentions: ["does not list"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }

    @Test func indexAndShardDisagreeOnWhereATensorIs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors(shard1, [tensor("a", 1), tensor("b", 2)])
        try dir.writeSafetensors(shard2, [tensor("c", 3)])
        try dir.write("model.safetensors.index.json", text: indexJSON(["a": shard1, "b": shard2, "c": shard2]))
        expectError(.indexShardMismatch, file: dir.path + "/" + shard1, tensor: "b", mentions: [shard2]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }

    @Test func duplicateNameAcrossShards() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors(shard1, [tensor("a", 1), tensor("twice", 2)])
        try dir.writeSafetensors(shard2, [tensor("b", 3), tensor("twice", 4)])
        try dir.write("model.safetensors.index.json", text: indexJSON(["a": shard1, "b": shard2, "twice": shard1]))
        expectError(.duplicateTensor, file: dir.path + "/" + shard2, tensor: "twice",
                    mentions: ["also in " + dir.path + "/" + shard1]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }

    @Test func malformedShardIsRefusedEvenWhenNothingInItIsWanted() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("config.json", text: config)
        try dir.writeSafetensors(shard1, [tensor("audio.a", 1)])
        let (header, data) = layout([tensor("text.b", 2), tensor("text.c", 3)])
        let cut = try dir.write(shard2, Array(fileBytes(header: header, data: data).dropLast(2)))
        try dir.write("model.safetensors.index.json",
                      text: indexJSON(["audio.a": shard1, "text.b": shard2, "text.c": shard2]))
        expectError(.truncated, file: cut, tensor: "text.c") {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: ["audio."])
        }
    }

    @Test func configThatIsNotAFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/config.json", withIntermediateDirectories: false)
        try dir.writeSafetensors("model.safetensors", [tensor("a", 1)])
        expectError(.fileUnreadable, file: dir.path + "/config.json", mentions: ["not a regular file"]) {
            _ = try HFCheckpointDirectory(path: dir.path, prefixes: [""])
        }
    }
}
