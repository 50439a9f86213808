import Checkpoint
import Foundation
import Gemma4Audio
import Testing

/// Strict binding: every broken checkpoint fails with an error naming the file and the tensor or field.
struct ModelLoadingTests {
    /// A copy of the tiny-f32 fixture whose tensors and config a test may change.
    struct EditableModel {
        let directory = NSTemporaryDirectory() + "earshot-model-\(UUID().uuidString)"
        var tensors: [(name: String, shape: [Int], values: [Float])]
        var config: [String: Any]

        init() throws {
            let source = try SafetensorsFile(path: Fixtures.modelPath("tiny-f32") + "/model.safetensors")
            tensors = try source.tensorNames.map { name in
                let info = source.info(name)!
                return (name, info.shape, try source.floats(name))
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.modelPath("tiny-f32") + "/config.json"))
            config = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        }

        /// Writes config.json and an F32 model.safetensors; returns the directory.
        func write() throws -> String {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: directory + "/config.json"))
            var header: [String: Any] = [:]
            var data: [UInt8] = []
            for tensor in tensors {
                header[tensor.name] = ["dtype": "F32", "shape": tensor.shape,
                                       "data_offsets": [data.count, data.count + 4 * tensor.values.count]]
                for v in tensor.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
            }
            var json = try JSONSerialization.data(withJSONObject: header)
            while json.count % 8 != 0 { json.append(0x20) }
            var file = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
            file += json
            file += data
            try Data(file).write(to: URL(fileURLWithPath: directory + "/model.safetensors"))
            return directory
        }

        mutating func audio(_ key: String, _ value: Any) {
            var audio = config["audio_config"] as! [String: Any]
            audio[key] = value
            config["audio_config"] = audio
        }
    }

    func expectLoadError(_ model: EditableModel, mentioning fragments: [String]) throws {
        let path = try model.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try Gemma4AudioModel.load(path: path)
            Issue.record("loaded a broken model (expected an error mentioning \(fragments))")
        } catch {
            let text = "\(error)"
            for fragment in fragments { #expect(text.contains(fragment), "'\(text)' lacks '\(fragment)'") }
        }
    }

    @Test func unchangedCopyLoads() throws {
        let path = try EditableModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try Gemma4AudioModel.load(path: path).configuration.hiddenSize == 64)
    }

    @Test func missingTensor() throws {
        var model = try EditableModel()
        model.tensors.removeAll { $0.name == "model.audio_tower.layers.1.self_attn.k_proj.input_max" }
        try expectLoadError(model, mentioning: [model.directory, "layers.1.self_attn.k_proj.input_max", "missing"])
    }

    @Test func shapeMismatch() throws {
        var model = try EditableModel()
        let index = model.tensors.firstIndex { $0.name == "model.audio_tower.output_proj.bias" }!
        model.tensors[index].shape = [47]
        model.tensors[index].values.removeLast()
        try expectLoadError(model, mentioning: ["model.audio_tower.output_proj.bias", "[47]", "[48]"])
        let path = try model.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ModelError.wrongShape(source: path, tensor: TensorKey("model.audio_tower.output_proj.bias"),
                                              expected: [48], actual: [47])) {
            try Gemma4AudioModel.load(path: path)
        }
    }

    @Test func unexpectedTensor() throws {
        var model = try EditableModel()
        model.tensors.append(("model.audio_tower.layers.2.norm_out.weight", [64], [Float](repeating: 1, count: 64)))
        try expectLoadError(model, mentioning: ["model.audio_tower.layers.2.norm_out.weight", "unexpected"])
    }

    @Test func clampsPresentWhenConfigTurnsThemOff() throws {
        var model = try EditableModel()
        model.audio("use_clipped_linears", false)
        try expectLoadError(model, mentioning: ["ffw_layer_1.input_", "unexpected", "79 more"])
    }

    @Test func configErrors() throws {
        var heads = try EditableModel()
        heads.audio("num_attention_heads", 5)
        try expectLoadError(heads, mentioning: ["config.json", "num_attention_heads 5"])
        var act = try EditableModel()
        act.audio("hidden_act", "gelu")
        try expectLoadError(act, mentioning: ["hidden_act", "gelu"])
        var right = try EditableModel()
        right.audio("attention_context_right", 2)
        try expectLoadError(right, mentioning: ["attention_context_right"])
        var noAudio = try EditableModel()
        noAudio.config["audio_config"] = nil
        try expectLoadError(noAudio, mentioning: ["audio_config"])
    }

    /// config.json decoded alone: a field of the wrong type (null included), a section that is not an object, or a
    /// file that is not a JSON object is refused with the file, the field and what it holds.
    @Test("malformed config.json fields are named with the file and what they hold", arguments: [
        (#"{"audio_config": {"hidden_size": "big"}, "text_config": {"hidden_size": 8}}"#,
         #"audio_config.hidden_size must be an integer, got "big""#),
        (#"{"audio_config": {"num_hidden_layers": 2.5}, "text_config": {"hidden_size": 8}}"#,
         "audio_config.num_hidden_layers must be an integer, got 2.5"),
        (#"{"audio_config": {"conv_kernel_size": null}, "text_config": {"hidden_size": 8}}"#,
         "audio_config.conv_kernel_size must be an integer, got null"),
        (#"{"audio_config": {"residual_weight": "half"}, "text_config": {"hidden_size": 8}}"#,
         #"audio_config.residual_weight must be a number, got "half""#),
        (#"{"audio_config": {"use_clipped_linears": 1}, "text_config": {"hidden_size": 8}}"#,
         "audio_config.use_clipped_linears must be true or false, got 1"),
        (#"{"audio_config": {"subsampling_conv_channels": [128, "x"]}, "text_config": {"hidden_size": 8}}"#,
         "audio_config.subsampling_conv_channels must be two integers, got an array"),
        (#"{"audio_config": {"subsampling_conv_channels": [128]}, "text_config": {"hidden_size": 8}}"#,
         "audio_config.subsampling_conv_channels must be two integers"),
        (#"{"audio_config": {}, "text_config": {"hidden_size": true}}"#,
         "text_config.hidden_size must be an integer, got true"),
        (#"{"audio_config": {}, "text_config": "wide"}"#,
         "no text_config.hidden_size: the embedding width D is unknown"),
        (#"{"audio_config": [1, 2], "text_config": {"hidden_size": 8}}"#,
         "no 'audio_config' object: not a Gemma 4 model with an audio encoder"),
        (#"{"audio_config": {"model_type": "gemma3n_audio"}, "text_config": {"hidden_size": 8}}"#,
         "audio_config.model_type is 'gemma3n_audio', expected 'gemma4_audio'"),
        (#"[{"audio_config": {}}]"#, "config.json is not a JSON object"),
    ])
    func malformedConfigFields(json: String, message: String) {
        #expect(throws: ModelError.invalidConfiguration(path: "/m/config.json", reason: message)) {
            try Gemma4AudioConfiguration(configJSON: Data(json.utf8), path: "/m/config.json")
        }
    }

    @Test func configJSONThatIsNotJSONIsRefusedAsSuch() {
        #expect(throws: ModelError.self) {
            try Gemma4AudioConfiguration(configJSON: Data("{\"audio_config\": ".utf8), path: "/m/config.json")
        }
        do {
            _ = try Gemma4AudioConfiguration(configJSON: Data("{\"audio_config\": ".utf8), path: "/m/config.json")
        } catch {
            #expect("\(error)".hasPrefix("/m/config.json: config.json is not valid JSON ("), "\(error)")
        }
    }

    @Test func aConfigWithEveryFieldDecodesEveryField() throws {
        let json = #"""
            {"audio_config": {"model_type": "gemma4_audio", "hidden_size": 96, "num_hidden_layers": 3,
             "num_attention_heads": 4, "subsampling_conv_channels": [128, 16], "conv_kernel_size": 3,
             "residual_weight": 0.25, "attention_chunk_size": 6, "attention_context_left": 7,
             "attention_context_right": 0, "attention_logit_cap": 30.0, "use_clipped_linears": false,
             "rms_norm_eps": 1e-5, "gradient_clipping": 1e9, "output_proj_dims": 80, "hidden_act": "silu",
             "some_other_key": {"ignored": [1]}},
             "text_config": {"hidden_size": 40.0}}
            """#
        var expected = Gemma4AudioConfiguration()
        expected.hiddenSize = 96
        expected.layerCount = 3
        expected.headCount = 4
        expected.subsamplingChannels = [128, 16]
        expected.convKernelSize = 3
        expected.residualWeight = 0.25
        expected.attentionChunkSize = 6
        expected.attentionContextLeft = 7
        expected.attentionLogitCap = 30
        expected.useClippedLinears = false
        expected.rmsNormEps = 1e-5
        expected.gradientClipping = 1e9
        expected.outputProjectionSize = 80
        expected.textHiddenSize = 40
        #expect(try Gemma4AudioConfiguration(configJSON: Data(json.utf8), path: "c.json") == expected)
    }

    @Test("absurd sizes are refused before anything is sized by them, naming the file, the field and the range",
          arguments: [("num_hidden_layers", "0…256"), ("attention_chunk_size", "1…1024"),
                      ("hidden_size", "1…16384"), ("num_attention_heads", "1…256"), ("conv_kernel_size", "1…1024"),
                      ("attention_context_left", "2…1024"), ("output_proj_dims", "1…65536")])
    func absurdSizes(field: String, range: String) throws {
        var model = try EditableModel()
        model.audio(field, 1_000_000_000)
        try expectLoadError(model, mentioning: [model.directory + "/config.json",
                                                "audio_config.\(field) is 1000000000, outside \(range)"])
    }

    @Test func absurdEmbeddingWidthAndChannelsAreRefused() throws {
        var width = try EditableModel()
        var text = width.config["text_config"] as! [String: Any]
        text["hidden_size"] = 1_000_000_000
        width.config["text_config"] = text
        try expectLoadError(width, mentioning: ["config.json",
                                                "text_config.hidden_size is 1000000000, outside 1…65536"])
        var channels = try EditableModel()
        channels.audio("subsampling_conv_channels", [128, 1_000_000_000])
        try expectLoadError(channels, mentioning: ["subsampling_conv_channels is 1000000000, outside 1…4096"])
        var cap = try EditableModel()
        cap.audio("attention_logit_cap", 1e300)
        try expectLoadError(cap, mentioning: ["attention_logit_cap is inf; it must be positive and finite"])
        var noCap = try EditableModel()
        noCap.audio("attention_logit_cap", 0)
        try expectLoadError(noCap, mentioning: ["attention_logit_cap is 0.0; it must be positive and finite"])
    }

    @Test func moreLayersThanTheCheckpointHoldsAreRefusedBeforeBinding() throws {
        var model = try EditableModel()
        model.audio("num_hidden_layers", 200)
        try expectLoadError(model, mentioning: [model.directory, "200 layers", "holds 2",
                                                "no tensor under model.audio_tower.layers.2."])
    }

    @Test("a NaN or an infinity in a weight is refused at load, naming the tensor", arguments: [
        ("model.audio_tower.layers.1.self_attn.q_proj.linear.weight", Float.nan, "nan"),    // bound as stored bytes
        ("model.audio_tower.layers.0.feed_forward1.pre_layer_norm.weight", -Float.infinity, "-inf"),   // as floats
        ("model.audio_tower.output_proj.bias", Float.infinity, "inf"),
    ])
    func nonFiniteWeights(name: String, value: Float, shown: String) throws {
        var model = try EditableModel()
        let index = model.tensors.firstIndex { $0.name == name }!
        model.tensors[index].values[5] = value
        try expectLoadError(model, mentioning: [model.directory, "tensor '\(name)'", "element 5 of",
                                                "is \(shown): a checkpoint's weights must be finite"])
    }

    // MARK: Clamp bounds: transformers' ±inf means no clip; anything that cannot be a clamp is refused

    func isClampBound(_ name: String) -> Bool { name.hasSuffix("_min") || name.hasSuffix("_max") }

    /// tiny-f32 with each clamp bound `b` (named by its tensor) replaced by `edit(name, b)`.
    func bounds(_ edit: (String, Float) -> Float) throws -> EditableModel {
        var model = try EditableModel()
        for i in model.tensors.indices where isClampBound(model.tensors[i].name) {
            model.tensors[i].values = [edit(model.tensors[i].name, model.tensors[i].values[0])]
        }
        return model
    }

    func encode(_ model: EditableModel, _ caseName: String = "odd-length") throws -> [Float] {
        let path = try model.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Gemma4AudioModel.load(path: path).encode(Fixtures.audio(caseName)).embeddings
    }

    @Test("clamp bounds of ±inf (transformers' initial values) load and skip the clamp: the same bits as no clamps")
    func infiniteBoundsMeanNoClip() throws {
        let infinite = try bounds { name, _ in name.hasSuffix("_min") ? -.infinity : .infinity }
        var unclipped = try EditableModel()
        unclipped.tensors.removeAll { isClampBound($0.name) }
        unclipped.audio("use_clipped_linears", false)
        #expect(try encode(infinite) == encode(unclipped))
    }

    @Test("a clamp open on one side (−inf lower, finite upper) clamps the other side only, with no NaN")
    func oneSidedClamp() throws {
        let open = try bounds { name, value in name.hasSuffix("_min") ? -.infinity : value }
        let huge = try bounds { name, value in name.hasSuffix("_min") ? -.greatestFiniteMagnitude : value }
        let unclipped = try bounds { name, _ in name.hasSuffix("_min") ? -.infinity : .infinity }
        let (a, b) = (try encode(open), try encode(huge))
        #expect(a.allSatisfy(\.isFinite) && a == b)
        #expect(maxAbsDifference(a, try encode(unclipped)) > 1e-3)   // the upper bounds still clip
    }

    @Test("a clamp bound that cannot be a clamp is refused, naming the tensor", arguments: [
        ("model.audio_tower.layers.0.feed_forward1.ffw_layer_1.input_min", Float.infinity,
         "is inf: a lower clamp bound must be a number or -inf (no clip); inf would clamp every value to inf"),
        ("model.audio_tower.layers.1.self_attn.v_proj.output_max", -Float.infinity,
         "is -inf: an upper clamp bound must be a number or inf (no clip)"),
        ("model.audio_tower.layers.1.lconv1d.linear_end.input_max", Float.nan,
         "element 0 of 1 is nan"),
    ])
    func invalidBound(name: String, value: Float, message: String) throws {
        let model = try bounds { tensor, old in tensor == name ? value : old }
        try expectLoadError(model, mentioning: [model.directory, "tensor '\(name)': \(message)"])
    }

    @Test func invertedClampRangeIsRefused() throws {
        let prefix = "model.audio_tower.layers.0.feed_forward2.ffw_layer_2.output"
        let model = try bounds { name, old in name == prefix + "_min" ? 2 : name == prefix + "_max" ? 1 : old }
        try expectLoadError(model, mentioning: [
            "tensor '\(prefix)_min': 2.0 is above '\(prefix)_max' (1.0): the clamp range is empty"])
        let path = try model.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ModelError.invertedClampRange(source: path, minimumTensor: TensorKey(prefix + "_min"),
                                                      minimum: 2, maximumTensor: TensorKey(prefix + "_max"),
                                                      maximum: 1)) {
            try Gemma4AudioModel.load(path: path)
        }
    }

    @Test func notAModel() throws {
        #expect(throws: (any Error).self) { try Gemma4AudioModel.load(path: "/nonexistent/model") }
        #expect(throws: (any Error).self) { try Gemma4AudioModel.load(path: "random:e9b") }
    }
}

/// q/k/v fusion: one (3H, H) GEMM when the three projections clamp their input alike, as in released checkpoints.
struct ProjectionFusionTests {
    /// tiny-f32 with q/k/v input bounds set to `bounds(projection)`.
    func model(_ bounds: (String) -> (Float, Float)) throws -> Gemma4AudioModel {
        var edited = try ModelLoadingTests.EditableModel()
        for i in edited.tensors.indices {
            let name = edited.tensors[i].name
            for projection in ["q_proj", "k_proj", "v_proj"] where name.contains(".self_attn.\(projection).input_") {
                let (low, high) = bounds(projection)
                edited.tensors[i].values = [name.hasSuffix("input_min") ? low : high]
            }
        }
        let path = try edited.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Gemma4AudioModel.load(path: path)
    }

    @Test func fusedEqualsSeparate() throws {
        // The same function twice: bounds too wide to bind, equal (fused) or differing by one (separate).
        let fused = try model { _ in (-1e4, 1e4) }
        let separate = try model { $0 == "q_proj" ? (-1e4, 1e4 + 1) : (-1e4, 1e4) }
        let audio = try Fixtures.audio("speech")
        let a = fused.encode(audio), b = separate.encode(audio)
        let error = maxAbsDifference(a.embeddings, b.embeddings)
        print("[fusion] fused vs separate q/k/v: max |Δ| = \(error)")
        #expect(a.count == b.count && error <= 1e-5)
    }

    @Test func bindingClampsStillApplyWhenFused() throws {
        // Equal, binding input bounds: fused, and different from the unclamped model.
        let tight = try model { _ in (-0.5, 0.5) }
        let wide = try model { _ in (-1e4, 1e4) }
        let audio = try Fixtures.audio("odd-length")
        #expect(maxAbsDifference(tight.encode(audio).embeddings, wide.encode(audio).embeddings) > 1e-3)
    }
}

/// Weights stay in the precision the checkpoint stores them in.
@Suite struct StoredPrecisionTests {
    @Test("a bf16 checkpoint's projections hold 2 bytes per weight, an f32 one's 4, with the same results as widened")
    func bf16CheckpointStaysBF16() throws {
        let bf16 = try Fixtures.model("tiny-bf16"), f32 = try Fixtures.model("tiny-f32")
        print("[weights] projections: tiny-bf16 \(bf16.projectionByteCount) B, tiny-f32 \(f32.projectionByteCount) B")
        #expect(bf16.projectionByteCount * 2 == f32.projectionByteCount)
        // The same bf16 values widened to f32 at load, as before weights were held as stored: equal bits.
        let checkpoint = try HFCheckpointDirectory(path: Fixtures.modelPath("tiny-bf16"),
                                                   prefixes: Gemma4AudioWeights.prefixes)
        let widened = try Gemma4AudioModel(configuration: bf16.configuration, tensors: WidenedSource(checkpoint),
                                           sourceDescription: "tiny-bf16 widened")
        #expect(widened.projectionByteCount == f32.projectionByteCount)
        let audio = try Fixtures.audio("odd-length")
        #expect(bf16.encode(audio).embeddings == widened.encode(audio).embeddings)
    }
}

/// A source that hides its stored bytes, so every tensor is read widened to float32.
final class WidenedSource: TensorSource {
    let base: any TensorSource
    init(_ base: any TensorSource) { self.base = base }
    var tensorNames: [String] { base.tensorNames }
    func info(_ name: String) -> TensorInfo? { base.info(name) }
    func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try base.read(name, into: destination)
    }
}
