import AudioCore
import Foundation
import Gemma4Audio
import Testing

// A checkpoint as transformers itself writes it (issue #18): a tiny Gemma4ForConditionalGeneration (text + vision +
// audio) with transformers' default initialisation — every ClippableLinear bound ±inf, per_dim_scale 0, norm scales
// 1 — saved in bf16 over three shards, and the mmproj llama.cpp's own converter makes from it
// (tools/reference/make_hf_saved_fixture.py; Tests/Fixtures/hf-saved/manifest.json).
//
// Tolerance, both cases (speech: 75 tokens × 40, odd-length: 26 × 40; values up to 0.30): max |Δ| ≤ 2e-6, about
// 1e-5 of the largest value. Both sides compute in float32 from the same bf16 weights (transformers upcasts them
// at load), so only summation order and libm differ; the clamps are off on both sides. Measured 1.6e-7 (speech)
// and 1.5e-7 (odd-length), a few ulps of the values; the bound leaves 12× for other CPUs (AVX2 or portable
// kernels). It is tighter than the calibrated fixtures' 1e-4 because these embeddings are ~10× smaller and
// nothing clips.

private let directory = Fixtures.root + "/hf-saved"
private let tolerance: Float = 2e-6

private func reference(_ caseName: String) throws -> FloatArray {
    try NPY.read(path: "\(directory)/\(caseName).embeddings.npy")
}

struct TransformersSavedTests {
    @Test("the model transformers saves loads with its ±inf clip bounds and matches transformers",
          arguments: ["speech", "odd-length"])
    func savedModelMatchesTransformers(caseName: String) throws {
        let model = try Gemma4AudioModel.load(path: directory + "/model")
        #expect(model.configuration.useClippedLinears)
        let tokens = model.encode(try Fixtures.audio(caseName))
        let expected = try reference(caseName)
        #expect(expected.shape == [tokens.count, model.configuration.textHiddenSize])
        let error = maxAbsDifference(tokens.embeddings, expected.values)
        print("[hf-saved] \(caseName): \(tokens.count) tokens, safetensors vs transformers max |Δ| = \(error)")
        #expect(error <= tolerance)
    }

    @Test("the mmproj llama.cpp's converter makes from it loads and matches the same reference",
          arguments: ["speech", "odd-length"])
    func convertedGGUFMatchesTransformers(caseName: String) throws {
        let gguf = try Gemma4AudioModel.load(path: directory + "/mmproj-bf16.gguf")
        let safetensors = try Gemma4AudioModel.load(path: directory + "/model")
        #expect(gguf.configuration == safetensors.configuration)
        let audio = try Fixtures.audio(caseName)
        let tokens = gguf.encode(audio)
        let error = maxAbsDifference(tokens.embeddings, try reference(caseName).values)
        // The converter's only change is per_dim_scale stored as softplus(x), which the loader inverts exactly
        // (GGUFModelTests): the same weights, the same bits out.
        let betweenFormats = maxAbsDifference(tokens.embeddings, safetensors.encode(audio).embeddings)
        print("[hf-saved] \(caseName): GGUF vs transformers max |Δ| = \(error), GGUF vs safetensors \(betweenFormats)")
        #expect(error <= tolerance)
        #expect(betweenFormats == 0)
    }

    @Test("earshot inspect's summary of the saved model: its audio tensors span two of the three shards")
    func summary() throws {
        let summary = try Gemma4AudioCheckpointSummary(path: directory + "/model")
        #expect(summary.format == "Hugging Face safetensors (2 shards)")
        #expect(summary.storedTypes == ["BF16": 132] && summary.clampCount == 80)
        let gguf = try Gemma4AudioCheckpointSummary(path: directory + "/mmproj-bf16.gguf")
        #expect(gguf.clampCount == 80 && gguf.parameterCount == summary.parameterCount)
    }
}
