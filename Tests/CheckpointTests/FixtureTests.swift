import Checkpoint
import Foundation
import Testing

// Checkpoints written by transformers + safetensors (tools/reference/make_fixtures.py; see Tests/Fixtures/manifest.json).
// Per the manifest, tiny-sharded and tiny-bf16 hold the weights of tiny-f32 ("weights_from": "tiny-f32"): the first
// split over two shards with an index, the second stored as bfloat16.

private let models = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/models").path
private let audioPrefixes = ["model.audio_tower.", "model.embed_audio."]

private func fixture(_ name: String) -> String { models + "/" + name }

@Suite(.enabled(if: FileManager.default.fileExists(atPath: models + "/tiny-sharded/model.safetensors.index.json"),
                "the HF-written fixtures are not in Tests/Fixtures/models"))
struct FixtureTests {
    @Test func singleFileHoldsTheAudioTensorsWithZeroDimensionalClamps() throws {
        let file = try SafetensorsFile(path: fixture("tiny-f32/model.safetensors"))
        #expect(file.metadata["format"] == "pt")
        #expect(!file.tensorNames.isEmpty)
        #expect(file.tensorNames.allSatisfy { name in audioPrefixes.contains { name.hasPrefix($0) } })
        let clamp = try #require(file.info("model.audio_tower.layers.0.self_attn.q_proj.input_max"))
        #expect(clamp.shape == [] && clamp.dtype == .f32)
        #expect(try file.floats(clamp.name).count == 1)
        let q = try #require(file.info("model.audio_tower.layers.0.self_attn.q_proj.linear.weight"))
        #expect(q.shape.count == 2 && q.shape[0] == q.shape[1])   // [hidden, hidden]
    }

    @Test func shardedAndSingleFileHoldTheSameNamesAndBytes() throws {
        let single = try HFCheckpointDirectory(path: fixture("tiny-f32"), prefixes: audioPrefixes)
        let sharded = try HFCheckpointDirectory(path: fixture("tiny-sharded"), prefixes: audioPrefixes)
        #expect(sharded.tensorNames == single.tensorNames)
        #expect(Set(sharded.tensorNames.compactMap { sharded.info($0)?.file }).count == 2)   // really two shards
        #expect(sharded.mappedRanges.count == 2)
        var differing: [String] = []
        for name in single.tensorNames {
            let (a, b) = (try #require(single.info(name)), try #require(sharded.info(name)))
            #expect(a.dtype == .f32 && b.dtype == .f32 && a.shape == b.shape, "\(name)")
            // Both are F32, so equal bit patterns of the floats are equal bytes in the files.
            if try single.floats(name).map(\.bitPattern) != sharded.floats(name).map(\.bitPattern) {
                differing.append(name)
            }
        }
        #expect(differing == [])
    }

    @Test func bf16CheckpointIsTheF32OneRoundedToNearestEven() throws {
        let f32 = try HFCheckpointDirectory(path: fixture("tiny-f32"), prefixes: audioPrefixes)
        let bf16 = try HFCheckpointDirectory(path: fixture("tiny-bf16"), prefixes: audioPrefixes)
        #expect(bf16.tensorNames == f32.tensorNames)
        var mismatches = 0, values = 0
        for name in f32.tensorNames {
            #expect(bf16.info(name)?.dtype == .bf16)
            let wide = try f32.floats(name), narrow = try bf16.floats(name)
            #expect(wide.count == narrow.count)
            for (w, n) in zip(wide, narrow) where !w.isNaN {
                // Round-to-nearest-even of the high 16 bits, as torch's float32 → bfloat16 cast does.
                let bits = w.bitPattern
                let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
                if n.bitPattern != rounded << 16 { mismatches += 1 }
                values += 1
            }
        }
        #expect(values > 100_000)
        #expect(mismatches == 0)
    }
}
