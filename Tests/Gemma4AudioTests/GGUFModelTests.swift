import AudioCore
import Checkpoint
import Foundation
import Gemma4Audio
import Testing

// Loading llama.cpp mmproj GGUFs (spec §6) against the HF checkpoints they were converted from
// (tools/reference/make_gguf_fixtures.py; see Tests/Fixtures/gguf/manifest.json).
//
// Tolerances, embeddings of the speech case (75 tokens × 96, values up to 3.17):
//
//   GGUF F32 vs the same model from safetensors, both through Earshot     max |Δ| ≤ 1e-5
//     The weights are the same bits except per_dim_scale, stored as softplus(x) and presented as softplus⁻¹ of
//     that, chosen so that the model's softplus gives the stored value exactly: measured 0 (bit-identical
//     embeddings) on speech and odd-length, tiny and noclip. (The plain rounded log(expm1(y)) misses y by an ulp
//     in 1 of 16 channels, which moved the output by 3.9e-6.) The bound leaves room for torch's and libm's
//     softplus to disagree by an ulp on another checkpoint; they agree on every fixture channel.
//   GGUF T vs transformers run on the same file's dequantized weights      max |Δ| ≤ 1e-4
//     (T = F32, F16, BF16, Q8_0.) The loader check: the bound the f32 reference parity tests use; measured
//     1.6e-5 … 2.0e-5, the same as Earshot vs transformers from safetensors (1.8e-5).
//   GGUF T vs the F32 model through Earshot, i.e. the quantization error   relative RMS / max |Δ|
//     F16  ≤ 0.002 / 0.01     (measured 0.0013 / 0.0070)
//     BF16 ≤ 0.015 / 0.1      (measured 0.0108 / 0.0725)
//     Q8_0 ≤ 0.05  / 0.45     (measured 0.0405 / 0.345)
//     Justification: transformers itself, fed the dequantized weights, moves by the same amounts (manifest.json:
//     0.0070, 0.0725, 0.345 max |Δ|); the tolerances are ~1.3× that. The weight rounding is 2⁻¹¹ relative (F16),
//     2⁻⁸ (BF16), up to 1/254 of each 32-block's largest weight (Q8_0); this random tiny model, with clamps
//     calibrated to clip 3–6% of activations, amplifies weight error strongly: transformers' own BF16 copy of it
//     (tiny-bf16) already moves the embeddings by 0.17 max |Δ|. A released checkpoint is far less sensitive; these
//     bounds are about this fixture, and the tight check of the loader is the second line.

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").path
private let gguf = root + "/gguf"

private func ggufPath(_ name: String) -> String { "\(gguf)/mmproj-\(name).gguf" }

private func embeddings(_ model: Gemma4AudioModel, _ caseName: String) throws -> [Float] {
    model.encode(try Fixtures.audio(caseName)).embeddings
}

private func reference(_ name: String, _ caseName: String) throws -> [Float] {
    try NPY.read(path: "\(gguf)/mmproj-\(name).\(caseName).embeddings.npy").values
}

/// √(Σ(a−b)² / Σb²).
private func relativeRMS(_ a: [Float], _ b: [Float]) -> Float {
    var error: Double = 0, norm: Double = 0
    for (x, y) in zip(a, b) {
        error += Double(x - y) * Double(x - y)
        norm += Double(y) * Double(y)
    }
    return Float((error / norm).squareRoot())
}

/// The manifest's GGUF name → HF name for one file.
private func converterNames(_ file: String) throws -> [String: String] {
    let data = try Data(contentsOf: URL(fileURLWithPath: gguf + "/manifest.json"))
    let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    let files = root["files"] as! [String: Any]
    let tensors = (files[file] as! [String: Any])["tensors"] as! [String: [String: Any]]
    return tensors.mapValues { $0["hf"] as! String }
}

/// Expects `body` to throw an error whose description contains every string of `mentions`.
private func expectFailure(_ mentions: [String], sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(mentions)", sourceLocation: sourceLocation)
    } catch {
        for word in mentions {
            #expect("\(error)".contains(word), "\(error) should mention \(word)", sourceLocation: sourceLocation)
        }
    }
}

/// A temporary directory for rewritten fixtures.
private struct Scratch {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-tests-\(UUID().uuidString)").path
    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// The q8_0 fixture (which has clamps, vision tensors and an F16 fallback) rewritten by `edit`.
    func rewrite(_ name: String = "edited.gguf", from fixture: String = "tiny-q8_0",
                 _ edit: (inout GGUFRewriter) -> Void) throws -> String {
        var file = try GGUFRewriter(path: ggufPath(fixture))
        edit(&file)
        let out = path + "/" + name
        try file.write(to: out)
        return out
    }
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: gguf + "/manifest.json"),
                "the GGUF fixtures are not in Tests/Fixtures/gguf"))
struct GGUFModelTests {
    // MARK: Configuration and tensors

    @Test(arguments: [("tiny-f32", "tiny-f32"), ("tiny-f16", "tiny-f32"), ("tiny-bf16", "tiny-f32"),
                      ("tiny-q8_0", "tiny-f32"), ("noclip-f32", "noclip-f32")])
    func configurationFromMetadataIsTheHFOne(gguf name: String, hf: String) throws {
        let checkpoint = try Gemma4GGUFCheckpoint(path: ggufPath(name))
        let expected = try Gemma4AudioConfiguration(
            configJSON: Data(contentsOf: URL(fileURLWithPath: "\(root)/models/\(hf)/config.json")), path: hf)
        #expect(checkpoint.configuration == expected)
        #expect(checkpoint.skippedTensorCount == (hf == "noclip-f32" ? 0 : 16))   // the vision placeholders
    }

    /// Every HF tensor, under its HF name and shape, with the HF values (bit for bit, F32 file), and
    /// per_dim_scale such that the model's softplus gives exactly what the GGUF stores.
    @Test(arguments: [("tiny-f32", "tiny-f32"), ("noclip-f32", "noclip-f32")])
    func presentsTheHFCheckpoint(gguf name: String, hf: String) throws {
        let checkpoint = try Gemma4GGUFCheckpoint(path: ggufPath(name))
        let original = try HFCheckpointDirectory(path: "\(root)/models/\(hf)", prefixes: Gemma4AudioWeights.prefixes)
        #expect(checkpoint.tensorNames == original.tensorNames)
        var perDimScales = 0
        for hfName in original.tensorNames {
            let (mine, theirs) = (try #require(checkpoint.info(hfName)), try #require(original.info(hfName)))
            #expect(mine.shape == theirs.shape, "\(hfName)")
            #expect(mine.file == ggufPath(name))
            let (values, expected) = (try checkpoint.floats(hfName), try original.floats(hfName))
            guard hfName.hasSuffix("per_dim_scale") else {
                #expect(values.map(\.bitPattern) == expected.map(\.bitPattern), "\(hfName)")
                continue
            }
            let stored = try checkpoint.file.floats(try #require(checkpoint.ggufName(of: hfName)))
            for (x, (y, raw)) in zip(values, zip(stored, expected)) {
                perDimScales += 1
                #expect((x > 20 ? x : log1pf(expf(x))) == y, "\(hfName): softplus(\(x)) ≠ \(y)")
                #expect(abs(x - raw) <= 2 * raw.ulp, "\(hfName): \(x) vs HF \(raw)")
            }
        }
        #expect(perDimScales == checkpoint.configuration.layerCount * checkpoint.configuration.headDimension)
    }

    /// Earshot's spec §6 table agrees with llama.cpp's converter (gguf-py's TensorNameMap, as the generator ran
    /// it) on every audio tensor, both ways.
    @Test(arguments: ["mmproj-tiny-q8_0.gguf", "mmproj-noclip-f32.gguf"])
    func nameTableMatchesLlamaCpp(file: String) throws {
        let checkpoint = try Gemma4GGUFCheckpoint(path: "\(gguf)/\(file)")
        let names = try converterNames(file).filter { $0.key.hasPrefix("a.") || $0.key.hasPrefix("mm.a.") }
        #expect(Set(names.values) == Set(checkpoint.tensorNames))
        for (ggufName, hfName) in names {
            #expect(checkpoint.ggufName(of: hfName) == ggufName, "\(hfName)")
        }
        // The swapped lconv norms, spelled out.
        #expect(checkpoint.ggufName(of: "model.audio_tower.layers.0.lconv1d.pre_layer_norm.weight")
                == "a.blk.0.conv_norm.weight")
        #expect(checkpoint.ggufName(of: "model.audio_tower.layers.0.lconv1d.conv_norm.weight")
                == "a.blk.0.norm_conv.weight")
    }

    // MARK: Embeddings

    @Test(arguments: [("tiny-f32", "tiny-f32", "speech"), ("tiny-f32", "tiny-f32", "odd-length"),
                      ("noclip-f32", "noclip-f32", "speech")])
    func f32GGUFEncodesLikeTheSafetensors(gguf name: String, hf: String, caseName: String) throws {
        let fromGGUF = try embeddings(try Gemma4AudioModel.load(path: ggufPath(name)), caseName)
        let fromSafetensors = try embeddings(try Fixtures.model(hf), caseName)
        #expect(fromGGUF.count == fromSafetensors.count && !fromGGUF.isEmpty)
        let error = maxAbsDifference(fromGGUF, fromSafetensors)
        print("GGUF \(name) vs safetensors, \(caseName): max |Δ| \(error)")
        #expect(error <= 1e-5)
    }

    @Test(arguments: [("tiny-f32", Float(1e-5), Float(1e-5)), ("tiny-f16", 0.002, 0.01), ("tiny-bf16", 0.015, 0.1),
                      ("tiny-q8_0", 0.05, 0.45)])
    func quantizedGGUFsEncodeLikeTransformersOnTheirWeights(gguf name: String, relativeTolerance: Float,
                                                            absoluteTolerance: Float) throws {
        let model = try Gemma4AudioModel.load(path: ggufPath(name))
        let f32 = try Fixtures.model("tiny-f32")
        for caseName in ["speech", "odd-length"] {
            let mine = try embeddings(model, caseName)
            let transformers = try reference(name, caseName)
            let loaderError = maxAbsDifference(mine, transformers)
            let baseline = try embeddings(f32, caseName)
            let (quantizationRMS, quantizationMax) = (relativeRMS(mine, baseline), maxAbsDifference(mine, baseline))
            print("GGUF \(name), \(caseName): vs transformers on the same weights max |Δ| \(loaderError); "
                  + "vs F32 relative RMS \(quantizationRMS), max |Δ| \(quantizationMax)")
            #expect(loaderError <= 1e-4)
            if name != "tiny-f32" {
                #expect(quantizationRMS <= relativeTolerance && quantizationMax <= absoluteTolerance)
                #expect(quantizationRMS > relativeTolerance / 100)   // the file really is quantized
            }
        }
    }

    // MARK: Paths and summaries

    @Test func loadRecognisesGGUFByExtensionOrMagic() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let renamed = scratch.path + "/weights.bin"
        try FileManager.default.copyItem(atPath: ggufPath("tiny-q8_0"), toPath: renamed)
        #expect(Gemma4AudioModel.isGGUF(path: ggufPath("tiny-q8_0")) && Gemma4AudioModel.isGGUF(path: renamed))
        #expect(!Gemma4AudioModel.isGGUF(path: Fixtures.modelPath("tiny-f32")))
        #expect(!Gemma4AudioModel.isGGUF(path: Fixtures.modelPath("tiny-f32") + "/model.safetensors"))
        let model = try Gemma4AudioModel.load(path: renamed)
        #expect(model.sourceDescription == renamed)
        #expect(model.parameterCount == (try Fixtures.model("tiny-f32")).parameterCount)
    }

    @Test(arguments: [("tiny-q8_0", ["F32": 108, "Q8_0": 23, "F16": 1]), ("tiny-bf16", ["F32": 108, "BF16": 24]),
                      ("noclip-f32", ["F32": 30])])
    func summaryCountsWhatTheFileHolds(gguf name: String, types: [String: Int]) throws {
        let summary = try Gemma4AudioCheckpointSummary(path: ggufPath(name))
        let model = try Gemma4AudioModel.load(path: ggufPath(name))
        #expect(summary.configuration == model.configuration)
        #expect(summary.parameterCount == model.parameterCount)
        #expect(summary.storedTypes == types)
        #expect(summary.format.hasPrefix("GGUF v3 mmproj"))
        let file = try GGUFFile(path: ggufPath(name), prefixes: ["a.", "mm.a."])
        #expect(summary.storedBytes == file.tensorNames.reduce(0) { $0 + file.tensor($1)!.byteCount! })
        #expect(summary.clampCount == (model.configuration.useClippedLinears ? 80 : 0))

        let hf = try Gemma4AudioCheckpointSummary(path: Fixtures.modelPath(name == "noclip-f32" ? "noclip-f32"
                                                                                                : "tiny-f32"))
        #expect(hf.configuration == summary.configuration && hf.parameterCount == summary.parameterCount)
        #expect(hf.format == "Hugging Face safetensors (single file)" && hf.skippedTensorCount == nil)
    }

    // MARK: Files that are not a Gemma 4 audio mmproj

    @Test func refusesFilesWithoutAGemma4AudioEncoder() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let cases: [(String, [String], (inout GGUFRewriter) -> Void)] = [
            ("no-audio.gguf", ["no audio encoder", "clip.has_audio_encoder is false"],
             { $0.set("clip.has_audio_encoder", .bool(false)) }),
            ("vision-only.gguf", ["no audio encoder", "missing"], { $0.remove("clip.has_audio_encoder") }),
            ("gemma3n.gguf", ["not Gemma 4's", "\"gemma3na\"", "gemma4a"],
             { $0.set("clip.audio.projector_type", .string("gemma3na")) }),
            ("language-model.gguf", ["general.architecture is 'gemma4'", "mmproj"],
             { $0.set("general.architecture", .string("gemma4")) }),
            ("ffn.gguf", ["feed_forward_length is 100", "4 × embedding_length = 256"],
             { $0.set("clip.audio.feed_forward_length", .uint32(100)) }),
            ("mels.gguf", ["num_mel_bins is 80"], { $0.set("clip.audio.num_mel_bins", .uint32(80)) }),
            ("heads.gguf", ["clip.audio.attention.head_count is missing"],
             { $0.remove("clip.audio.attention.head_count") }),
            ("eps.gguf", ["layer_norm_epsilon is \"tiny\", not a float"],
             { $0.set("clip.audio.attention.layer_norm_epsilon", .string("tiny")) }),
        ]
        for (name, mentions, edit) in cases {
            let path = try scratch.rewrite(name, edit)
            expectFailure([path] + mentions) { _ = try Gemma4AudioModel.load(path: path) }
        }
    }

    @Test func absurdSizesAreRefusedNamingTheKey() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let cases: [(String, [String], (inout GGUFRewriter) -> Void)] = [
            ("blocks.gguf", ["clip.audio.block_count is 1000000000, outside 0…256"],
             { $0.set("clip.audio.block_count", .uint32(1_000_000_000)) }),
            ("width.gguf", ["clip.audio.embedding_length is 9223372036854775807, outside 1…16384"],
             { $0.set("clip.audio.embedding_length", .int64(.max)) }),
            ("heads.gguf", ["clip.audio.attention.head_count is 4294967295, outside 1…256"],
             { $0.set("clip.audio.attention.head_count", .uint32(.max)) }),
            ("projection.gguf", ["clip.audio.projection_dim is 1000000000, outside 1…65536"],
             { $0.set("clip.audio.projection_dim", .uint32(1_000_000_000)) }),
            ("more-blocks.gguf", ["the configuration has 3 layers", "holds 2"],
             { $0.set("clip.audio.block_count", .uint32(3)) }),
        ]
        for (name, mentions, edit) in cases {
            let path = try scratch.rewrite(name, edit)
            expectFailure([path] + mentions) { _ = try Gemma4AudioModel.load(path: path) }
        }
    }

    @Test func nonFiniteWeightsAreRefusedInGGUFTerms() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        // A bf16 matrix, bound as the file stores it: its element 3 becomes a NaN (0x7FC0).
        var bf16Name = ""
        let bf16 = try scratch.rewrite("nan.gguf", from: "tiny-bf16") { file in
            let i = file.tensors.firstIndex { $0.type == 30 && $0.name.hasPrefix("a.blk.") }!
            bf16Name = file.tensors[i].name
            file.tensors[i].data.replaceSubrange(6..<8, with: [0xC0, 0x7F])
        }
        expectFailure([bf16, "tensor '\(bf16Name)'", "element 3 of", "is nan"]) {
            _ = try Gemma4AudioModel.load(path: bf16)
        }
        // An F32 norm read as floats: +infinity.
        let f32 = try scratch.rewrite("inf.gguf") { file in
            file.editTensor("a.blk.0.ffn_norm.weight") { $0.data.replaceSubrange(0..<4, with: [0, 0, 0x80, 0x7F]) }
        }
        expectFailure([f32, "tensor 'a.blk.0.ffn_norm.weight'", "element 0 of", "is inf"]) {
            _ = try Gemma4AudioModel.load(path: f32)
        }
    }

    @Test func impossibleClampBoundsAreRefusedInGGUFTerms() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        func setBound(_ name: String, _ value: Float) -> (inout GGUFRewriter) -> Void {
            let bytes = withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
            return { file in file.editTensor(name) { $0.data = bytes } }
        }
        let plusInfinity = try scratch.rewrite("min.gguf", setBound("a.blk.0.ffn_up.input_min", .infinity))
        expectFailure([plusInfinity, "tensor 'a.blk.0.ffn_up.input_min' (HF "
                       + "'model.audio_tower.layers.0.feed_forward1.ffw_layer_1.input_min')", "is inf",
                       "must be a number or -inf"]) {
            _ = try Gemma4AudioModel.load(path: plusInfinity)
        }
        let inverted = try scratch.rewrite("inverted.gguf") { file in
            setBound("a.blk.1.attn_q.output_min", 3)(&file)
            setBound("a.blk.1.attn_q.output_max", -3)(&file)
        }
        expectFailure([inverted, "tensor 'a.blk.1.attn_q.output_min'", "3.0 is above 'a.blk.1.attn_q.output_max' (HF "
                       + "'model.audio_tower.layers.1.self_attn.q_proj.output_max'", "(-3.0)", "range is empty"]) {
            _ = try Gemma4AudioModel.load(path: inverted)
        }
        // The open-side infinities load (tiny-f32 with all of one linear's bounds made ±inf).
        let open = try scratch.rewrite("open.gguf", from: "tiny-f32") { file in
            for (suffix, value) in [("input_min", -Float.infinity), ("input_max", .infinity),
                                    ("output_min", -.infinity), ("output_max", .infinity)] {
                setBound("a.blk.0.ffn_up." + suffix, value)(&file)
            }
        }
        #expect(try embeddings(Gemma4AudioModel.load(path: open), "odd-length").allSatisfy(\.isFinite))
    }

    // MARK: Tensors that are wrong: errors name the GGUF file and the GGUF tensor

    @Test func missingOrMisshapenTensorsAreNamedInGGUFTerms() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let missing = try scratch.rewrite("missing.gguf") { $0.removeTensor("a.blk.1.attn_k.weight") }
        expectFailure([missing, "tensor 'a.blk.1.attn_k.weight'",
                       "HF 'model.audio_tower.layers.1.self_attn.k_proj.linear.weight'", "missing"]) {
            _ = try Gemma4AudioModel.load(path: missing)
        }
        // The same, as values: the HF key the binder asked for, with the GGUF name beside it.
        #expect(throws: ModelError.missingTensor(
            source: missing,
            tensor: TensorKey("model.audio_tower.layers.1.self_attn.k_proj.linear.weight",
                              ggufName: "a.blk.1.attn_k.weight"),
            expectedShape: [64, 64])) {
            try Gemma4AudioModel.load(path: missing)
        }
        let missingClamp = try scratch.rewrite("clamp.gguf") { $0.removeTensor("a.blk.0.conv_pw2.output_max") }
        expectFailure([missingClamp, "tensor 'a.blk.0.conv_pw2.output_max'", "missing"]) {
            _ = try Gemma4AudioModel.load(path: missingClamp)
        }
        let transposed = try scratch.rewrite("shape.gguf") { file in
            file.editTensor("a.blk.0.conv_pw1.weight") { $0.dimensions = [128, 64] }   // was {64, 128}
        }
        expectFailure([transposed, "tensor 'a.blk.0.conv_pw1.weight'", "shape [64, 128], expected [128, 64]",
                       "Q8_0, ne [128, 64]"]) {
            _ = try Gemma4AudioModel.load(path: transposed)
        }
        let depthwise = try scratch.rewrite("conv-dw.gguf") { file in
            file.editTensor("a.blk.1.conv_dw.weight") { $0.dimensions = [64, 5] }   // was {5, 64}
        }
        expectFailure([depthwise, "tensor 'a.blk.1.conv_dw.weight'", "expected [64, 1, 5]"]) {
            _ = try Gemma4AudioModel.load(path: depthwise)
        }
        let extraLayer = try scratch.rewrite("layers.gguf") { $0.set("clip.audio.block_count", .uint32(1)) }
        expectFailure([extraLayer, "tensor 'a.blk.1.", "unexpected tensor"]) {
            _ = try Gemma4AudioModel.load(path: extraLayer)
        }
        let stranger = try scratch.rewrite("unknown.gguf") { file in
            file.tensors.append(.init(name: "a.blk.0.mystery.weight", dimensions: [8], type: 0,
                                      data: [UInt8](repeating: 0, count: 32)))
        }
        expectFailure([stranger, "tensor 'a.blk.0.mystery.weight'", "no Hugging Face equivalent"]) {
            _ = try Gemma4AudioModel.load(path: stranger)
        }
        let noClamps = try scratch.rewrite("half-clipped.gguf") { file in
            file.tensors.removeAll { $0.name.hasPrefix("a.blk.1.") && $0.name.hasSuffix("_min") }
        }
        expectFailure([noClamps, "a.blk.1.", "_min'", "missing"]) { _ = try Gemma4AudioModel.load(path: noClamps) }
    }

    @Test func unsupportedTypesAreRefusedForAudioAndSkippedForVision() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        // I32 has F32's size, so only the type changes.
        let audio = try scratch.rewrite("audio-i32.gguf") { file in
            file.editTensor("a.blk.0.ffn_norm.weight") { $0.type = 26 }
        }
        let error = #expect(throws: CheckpointError.self) { _ = try Gemma4AudioModel.load(path: audio) }
        #expect(error?.code == .unsupportedDType && error?.tensor == "a.blk.0.ffn_norm.weight")
        #expect(error.map { "\($0)".contains("ggml type I32 is not supported") && "\($0)".contains(audio) } == true)

        let vision = try scratch.rewrite("vision-i32.gguf") { file in
            file.editTensor("v.blk.0.ln1.weight") { $0.type = 26 }
            file.editTensor("v.patch_embd.weight") { $0.type = 28; $0.data += $0.data }   // F64
        }
        let model = try Gemma4AudioModel.load(path: vision)
        #expect(try embeddings(model, "speech") == embeddings(try Gemma4AudioModel.load(path: ggufPath("tiny-q8_0")),
                                                              "speech"))
    }

    @Test func truncatedFilesAreRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ggufPath("tiny-q8_0"))))
        let header = try GGUFFile(path: ggufPath("tiny-q8_0")).dataOffset
        for length in [10, 100, header / 2, header - 1, header + 100, bytes.count - 1] {
            let path = scratch.path + "/cut-\(length).gguf"
            try Data(bytes[..<length]).write(to: URL(fileURLWithPath: path))
            expectFailure([path, "truncated"]) { _ = try Gemma4AudioModel.load(path: path) }
        }
    }
}
