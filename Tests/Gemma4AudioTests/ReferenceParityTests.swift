import AudioCore
import Gemma4Audio
import Testing

/// The offline encoder against transformers' outputs for every committed (case, model) pair.
struct ReferenceParityTests {
    static let pairs: [(String, String)] = [
        ("speech", "tiny-f32"), ("silence", "tiny-f32"), ("odd-length", "tiny-f32"), ("short", "tiny-f32"),
        ("stereo44k", "tiny-f32"), ("long24bit", "tiny-f32"),
        ("speech", "tiny3-f32"), ("odd-length", "tiny3-f32"),
        ("speech", "noclip-f32"), ("odd-length", "noclip-f32"),
        ("speech", "tiny-bf16"), ("odd-length", "tiny-bf16"),
        ("speech", "tiny-sharded"), ("odd-length", "tiny-sharded"),
    ]

    @Test("embeddings and encoder output match transformers", arguments: pairs)
    func parity(caseName: String, modelName: String) throws {
        let model = try Fixtures.model(modelName)
        let tokens = model.encode(try Fixtures.audio(caseName))
        let embeddings = try Fixtures.reference(caseName, "\(modelName).embeddings.npy")
        #expect(embeddings.shape == [tokens.count, model.configuration.textHiddenSize])
        let embeddingError = maxAbsDifference(tokens.embeddings, embeddings.values)
        print("[parity] \(caseName) × \(modelName): \(tokens.count) tokens, embeddings max |Δ| = \(embeddingError)")
        #expect(embeddingError <= 1e-4)
        if let encoder = try? Fixtures.reference(caseName, "\(modelName).encoder.npy") {
            #expect(encoder.shape == [tokens.count, model.configuration.outputProjectionSize])
            let encoderError = maxAbsDifference(tokens.encoder, encoder.values)
            print("[parity] \(caseName) × \(modelName): encoder max |Δ| = \(encoderError)")
            #expect(encoderError <= 1e-4)
        }
    }

    @Test("the sharded checkpoint loads the same weights as the single file")
    func shardedEqualsSingle() throws {
        let audio = try Fixtures.audio("odd-length")
        let single = try Fixtures.model("tiny-f32").encode(audio)
        let sharded = try Fixtures.model("tiny-sharded").encode(audio)
        #expect(single.embeddings == sharded.embeddings)
    }

    @Test("every hyperparameter comes from config.json")
    func configuration() throws {
        let c = try Fixtures.model("tiny3-f32").configuration
        let tiny = try Fixtures.model("tiny-f32").configuration
        #expect(c != tiny)
        #expect(tiny.hiddenSize == 64 && tiny.layerCount == 2 && tiny.headCount == 4)
        #expect(tiny.outputProjectionSize == 48 && tiny.textHiddenSize == 96)
        #expect(tiny.subsamplingChannels == [128, 8])
        #expect(try Fixtures.model("noclip-f32").configuration.useClippedLinears == false)
    }
}
