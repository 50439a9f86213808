import Checkpoint
import Foundation
import Kernels

// Loading a llama.cpp / ollama `mmproj` GGUF (spec §6): the file is presented to the ordinary strict binder as the
// Hugging Face checkpoint it was converted from, so one binding path serves both formats.
//
// What llama.cpp's converter (conversion/gemma.py, Gemma4VisionAudioModel.modify_tensors) did, and what undoes it:
//
//   HF (model.audio_tower. = A.)                       GGUF                              undone here by
//   A.layers.N.lconv1d.pre_layer_norm.weight           a.blk.N.conv_norm.weight (sic)    the name table
//   A.layers.N.lconv1d.conv_norm.weight                a.blk.N.norm_conv.weight (sic)    the name table
//   A.layers.N.self_attn.per_dim_scale  [hd]           ….per_dim_scale.weight = softplus  softplus⁻¹, exact (below)
//   A.layers.N.lconv1d.depthwise_conv1d.weight [H,1,K] a.blk.N.conv_dw.weight ne {K, H}  shape [H, 1, K]
//   <clippable>.input_min … (0-d)                      <gguf name>.input_min ne {1}       shape []
//   any [out, in] Linear                               ne {in, out}, same bytes          shape = ne reversed
//
// Vision tensors (`v.*`, and `mm.*` other than `mm.a.*`) are never exposed, whatever their type.

/// A llama.cpp `mmproj` GGUF holding a Gemma 4 audio encoder (`clip.audio.projector_type = "gemma4a"`), presented
/// under Hugging Face names and shapes (spec §4), with the configuration read from its `clip.audio.*` metadata.
///
/// ```swift
/// let checkpoint = try Gemma4GGUFCheckpoint(path: "mmproj-gemma-4-e2b-it-bf16.gguf")
/// let model = try Gemma4AudioModel(configuration: checkpoint.configuration, tensors: checkpoint,
///                                  sourceDescription: checkpoint.path)
/// ```
///
/// `per_dim_scale` is stored with softplus applied (y = softplus(x), rounded to Float32 by torch). The model takes
/// the raw parameter and applies softplus itself, so this source presents x' = softplus⁻¹(y): log(expm1(y)) in
/// Double, rounded to Float32, then nudged by at most 4 ulp so that the model's Float32 softplus(x') is exactly y.
/// The model therefore scales queries by exactly the stored values; x' itself may differ from the original x by
/// an ulp or two (where softplus is flat, several x round to one y), which no output can see.
public final class Gemma4GGUFCheckpoint: TensorSource {
    /// The GGUF file, exposing the audio tensors (`a.*`, `mm.a.*`) under their GGUF names.
    public let file: GGUFFile
    /// The hyperparameters: `clip.audio.*` metadata, tensor shapes where the metadata is silent, HF defaults for
    /// the rest (see ``Gemma4AudioConfiguration/init(gguf:)``).
    public let configuration: Gemma4AudioConfiguration
    /// How many tensors of the file are not audio tensors (vision tower and projector) and are skipped.
    public let skippedTensorCount: Int

    private let entries: [String: Entry]          // HF name → where it comes from
    private let names: [String]                   // HF names, sorted
    private let perDimScales: [String: [Float]]   // HF name → softplus⁻¹ of the stored values

    private struct Entry: Sendable {
        let ggufName: String
        let shape: [Int]                          // PyTorch order, as HF has it
    }

    /// The path of the GGUF file.
    public var path: String { file.path }

    /// Opens the mmproj GGUF at `path`.
    /// - Throws: ``CheckpointError`` for a malformed file or an audio tensor of an unsupported type; ``ModelError``
    ///   for a file that is not a Gemma 4 audio mmproj (no audio encoder, another projector, the language-model
    ///   GGUF), for metadata the encoder cannot run, or for an audio tensor with no Hugging Face equivalent.
    public init(path: String) throws {
        file = try GGUFFile(path: path, prefixes: GGUFNames.audioPrefixes)
        configuration = try Gemma4AudioConfiguration(gguf: file)
        skippedTensorCount = file.tensors.count - file.tensorNames.count

        var entries: [String: Entry] = [:]
        var perDimScales: [String: [Float]] = [:]
        for ggufName in file.tensorNames {
            guard let mapped = GGUFNames.huggingFaceName(ofGGUF: ggufName) else {
                throw ModelError.unmappedGGUFTensor(source: path, tensor: TensorKey(ggufName))
            }
            let stored = file.tensor(ggufName)!
            var shape = stored.shape
            switch mapped.kind {
            case .clamp where stored.dimensions == [1]:
                shape = []                                            // {1} → 0-d, as HF's buffers are
            case .depthwise where stored.dimensions.count == 2:
                shape = [stored.dimensions[1], 1, stored.dimensions[0]]   // ne {K, H} → [H, 1, K]
            case .perDimScale:
                let softplused = try file.floats(ggufName)
                if let bad = softplused.first(where: { !($0 >= 0) || !$0.isFinite }) {
                    throw ModelError.invalidPerDimScale(source: path, tensor: TensorKey(ggufName), value: bad)
                }
                perDimScales[mapped.name] = softplused.map(inverseSoftplus)
            default:
                break
            }
            entries[mapped.name] = Entry(ggufName: ggufName, shape: shape)
        }
        self.entries = entries
        self.perDimScales = perDimScales
        names = entries.keys.sorted()
    }

    /// The GGUF name of the tensor this source presents as `huggingFaceName`, whether or not the file has it.
    public func ggufName(of huggingFaceName: String) -> String? {
        entries[huggingFaceName]?.ggufName ?? GGUFNames.ggufName(ofHuggingFace: huggingFaceName)
    }

    // MARK: TensorSource

    /// The audio tensors' Hugging Face names, sorted.
    public var tensorNames: [String] { names }

    /// The tensor in Hugging Face terms: its HF name and shape; dtype and file as ``GGUFFile`` reports them.
    public func info(_ name: String) -> TensorInfo? {
        guard let entry = entries[name], let stored = file.info(entry.ggufName) else { return nil }
        return TensorInfo(name: name, dtype: stored.dtype, shape: entry.shape, file: stored.file)
    }

    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let entry = entries[name] else {
            throw ModelError.noSuchTensor(source: file.path, tensor: TensorKey(name))
        }
        if let values = perDimScales[name], destination.count == values.count {
            _ = destination.update(fromContentsOf: values)
            return
        }
        // Same element order in both layouts: only the shape differs.
        try file.read(entry.ggufName, into: destination)
    }

    public func storedBytes(_ name: String) -> UnsafeRawBufferPointer? {
        guard let entry = entries[name], perDimScales[name] == nil else { return nil }
        return file.storedBytes(entry.ggufName)
    }

    // MARK: Error messages in GGUF terms

    /// `error` (from binding this source) with the GGUF tensor name put first and the stored form added, so that
    /// "tensor 'model.audio_tower.layers.0.self_attn.q_proj.linear.weight': missing" reads
    /// "tensor 'a.blk.0.attn_q.weight' (HF 'model.audio_tower.layers.0.self_attn.q_proj.linear.weight'): missing".
    func describingGGUFNames(_ error: ModelError) -> ModelError {
        guard error.tensorSource == file.path else { return error }
        return error.mapTensor { key in
            guard key.ggufName == nil, let ggufName = ggufName(of: key.name) else { return key }
            let stored = file.tensor(ggufName).map { "\($0.type.name), ne \($0.dimensions)" }
            return TensorKey(key.name, ggufName: ggufName, ggufStorage: stored)
        }
    }
}

/// softplus⁻¹(y): x₀ = log(expm1(y)) in Double, rounded to Float; then, among x₀ and its Float neighbours up to
/// 4 ulp away, the nearest x whose Float32 softplus (the model's, `VectorOps.softplus`) is exactly y, so that the
/// model scales queries by exactly the stored value. If none is (possible only for small y, where adjacent Floats
/// x map more than an ulp of y apart), x₀ is kept. Above 20 Float32 softplus is the identity (and expm1 could
/// overflow), so y itself is returned.
func inverseSoftplus(_ y: Float) -> Float {
    if y > 20 { return y }
    let start = Float(log(expm1(Double(y))))
    if VectorOps.softplus(start) == y { return start }
    var below = start, above = start
    for _ in 0 ..< 4 {
        below = below.nextDown
        above = above.nextUp
        if VectorOps.softplus(below) == y { return below }
        if VectorOps.softplus(above) == y { return above }
    }
    return start
}

// MARK: - Names (spec §6)

/// The spec §6 name table between a Gemma 4 mmproj GGUF and the Hugging Face checkpoint.
enum GGUFNames {
    /// The prefixes of audio tensors in an mmproj: the encoder and its projector.
    static let audioPrefixes = ["a.", "mm.a."]
    static let clampSuffixes = ["input_min", "input_max", "output_min", "output_max"]

    enum Kind {
        /// A plain `.weight` (norms, `relative_k_proj`, SSCP, output projection, embedder).
        case plain
        /// A ClippableLinear: GGUF `.weight` ↔ HF `.linear.weight`, plus its four clamp scalars.
        case linear
        case clamp
        case perDimScale
        case depthwise
    }

    /// Per layer: GGUF base (after `a.blk.N.`) → (HF base after `model.audio_tower.layers.N.`, kind).
    private static let layerTable: [(gguf: String, hf: String, kind: Kind)] = [
        ("ffn_norm", "feed_forward1.pre_layer_norm", .plain),
        ("ffn_post_norm", "feed_forward1.post_layer_norm", .plain),
        ("ffn_up", "feed_forward1.ffw_layer_1", .linear),
        ("ffn_down", "feed_forward1.ffw_layer_2", .linear),
        ("ffn_norm_1", "feed_forward2.pre_layer_norm", .plain),
        ("ffn_post_norm_1", "feed_forward2.post_layer_norm", .plain),
        ("ffn_up_1", "feed_forward2.ffw_layer_1", .linear),
        ("ffn_down_1", "feed_forward2.ffw_layer_2", .linear),
        ("attn_pre_norm", "norm_pre_attn", .plain),
        ("attn_post_norm", "norm_post_attn", .plain),
        ("attn_q", "self_attn.q_proj", .linear),
        ("attn_k", "self_attn.k_proj", .linear),
        ("attn_v", "self_attn.v_proj", .linear),
        ("attn_out", "self_attn.post", .linear),
        ("attn_k_rel", "self_attn.relative_k_proj", .plain),
        ("per_dim_scale", "self_attn.per_dim_scale", .perDimScale),
        ("conv_norm", "lconv1d.pre_layer_norm", .plain),      // sic: the converter's table swaps the two
        ("norm_conv", "lconv1d.conv_norm", .plain),           // lconv norms; llama.cpp's loader swaps them back
        ("conv_pw1", "lconv1d.linear_start", .linear),
        ("conv_pw2", "lconv1d.linear_end", .linear),
        ("conv_dw", "lconv1d.depthwise_conv1d", .depthwise),
        ("ln2", "norm_out", .plain),
    ]

    /// Outside the layers: full GGUF name ↔ full HF name (all plain).
    private static let globalTable: [(gguf: String, hf: String)] = [
        ("a.conv1d.0.weight", "model.audio_tower.subsample_conv_projection.layer0.conv.weight"),
        ("a.conv1d.0.norm.weight", "model.audio_tower.subsample_conv_projection.layer0.norm.weight"),
        ("a.conv1d.1.weight", "model.audio_tower.subsample_conv_projection.layer1.conv.weight"),
        ("a.conv1d.1.norm.weight", "model.audio_tower.subsample_conv_projection.layer1.norm.weight"),
        ("a.input_projection.weight", "model.audio_tower.subsample_conv_projection.input_proj_linear.weight"),
        ("a.pre_encode.out.weight", "model.audio_tower.output_proj.weight"),
        ("a.pre_encode.out.bias", "model.audio_tower.output_proj.bias"),
        ("mm.a.input_projection.weight", "model.embed_audio.embedding_projection.weight"),
    ]

    private static let ggufLayerPrefix = "a.blk."
    private static let hfLayerPrefix = "model.audio_tower.layers."

    /// The HF name (and kind) of a GGUF audio tensor; `nil` when spec §6 has no such tensor.
    static func huggingFaceName(ofGGUF name: String) -> (name: String, kind: Kind)? {
        if let global = globalTable.first(where: { $0.gguf == name }) { return (global.hf, .plain) }
        guard let (layer, rest) = splitLayer(name, prefix: ggufLayerPrefix),
              let dot = rest.lastIndex(of: ".") else { return nil }
        let base = String(rest[..<dot]), suffix = String(rest[rest.index(after: dot)...])
        guard let row = layerTable.first(where: { $0.gguf == base }) else { return nil }
        let hf = hfLayerPrefix + "\(layer)." + row.hf
        switch (row.kind, suffix) {
        case (.linear, "weight"): return (hf + ".linear.weight", .linear)
        case (.linear, _) where clampSuffixes.contains(suffix): return (hf + "." + suffix, .clamp)
        case (.perDimScale, "weight"): return (hf, .perDimScale)
        case (.plain, "weight"), (.depthwise, "weight"): return (hf + ".weight", row.kind)
        default: return nil
        }
    }

    /// The GGUF name of an HF audio tensor; `nil` when spec §6 has no such tensor.
    static func ggufName(ofHuggingFace name: String) -> String? {
        if let global = globalTable.first(where: { $0.hf == name }) { return global.gguf }
        guard let (layer, rest) = splitLayer(name, prefix: hfLayerPrefix) else { return nil }
        for row in layerTable {
            let gguf = ggufLayerPrefix + "\(layer)." + row.gguf
            switch row.kind {
            case .linear:
                if rest == row.hf + ".linear.weight" { return gguf + ".weight" }
                for suffix in clampSuffixes where rest == row.hf + "." + suffix { return gguf + "." + suffix }
            case .perDimScale:
                if rest == row.hf { return gguf + ".weight" }
            case .plain, .depthwise, .clamp:
                if rest == row.hf + ".weight" { return gguf + ".weight" }
            }
        }
        return nil
    }

    /// `prefix` + decimal layer number + "." + rest → (layer, rest).
    private static func splitLayer(_ name: String, prefix: String) -> (Int, Substring)? {
        guard name.hasPrefix(prefix) else { return nil }
        let tail = name.dropFirst(prefix.count)
        guard let dot = tail.firstIndex(of: "."), let layer = Int(tail[..<dot]), layer >= 0,
              String(layer) == tail[..<dot] else { return nil }
        return (layer, tail[tail.index(after: dot)...])
    }
}

// MARK: - Configuration from metadata

extension Gemma4AudioConfiguration {
    /// The hyperparameters of the Gemma 4 audio encoder in an mmproj GGUF.
    ///
    /// From the metadata (as llama.cpp writes it): `clip.audio.embedding_length` (H), `block_count`,
    /// `attention.head_count`, `projection_dim` (D), `attention.layer_norm_epsilon` (the RMSNorm epsilon;
    /// 1e-6 when absent); `feed_forward_length` must be 4·H and `num_mel_bins` 128, which the encoder hard-codes.
    /// From the tensors, where the metadata is silent: `output_proj_dims` = ne[1] of `a.pre_encode.out.weight`
    /// ({H, P}); `subsampling_conv_channels` = ne[3] of `a.conv1d.{0,1}.weight` ({3, 3, C_in, C_out});
    /// `use_clipped_linears` = whether clamp tensors (`….input_min` …) are present. Everything else (chunk size,
    /// context, conv kernel, softcap, residual weight) is not stored and takes the HF default (spec §1).
    /// - Throws: ``ModelError`` naming the file and the key or tensor.
    public init(gguf file: GGUFFile) throws {
        let path = file.path
        func fail(_ reason: String) -> ModelError { .invalidConfiguration(path: path, reason: reason) }
        let metadata = file.metadata
        guard let architecture = metadata["general.architecture"]?.stringValue else {
            throw fail("no general.architecture: not a llama.cpp mmproj GGUF")
        }
        guard architecture == "clip" else {
            throw fail("general.architecture is '\(architecture)', not 'clip': this GGUF is a language model, not "
                       + "the mmproj file (mmproj-*.gguf) that holds the audio encoder")
        }
        guard metadata["clip.has_audio_encoder"]?.boolValue == true else {
            throw fail("the mmproj has no audio encoder (clip.has_audio_encoder is "
                       + "\(metadata["clip.has_audio_encoder"]?.description ?? "missing"))")
        }
        let projectorKey = metadata["clip.audio.projector_type"] != nil ? "clip.audio.projector_type"
                                                                         : "clip.projector_type"
        guard let projector = metadata[projectorKey]?.stringValue, projector == "gemma4a" else {
            throw fail("the audio encoder is not Gemma 4's: \(projectorKey) is "
                       + "\(metadata[projectorKey]?.description ?? "missing"), expected \"gemma4a\"")
        }
        func integer(_ key: String, within limits: ClosedRange<Int>? = nil) throws -> Int {
            guard let value = metadata[key] else { throw fail("\(key) is missing") }
            guard let number = value.integerValue else { throw fail("\(key) is \(value), not an integer") }
            if let limits { try Self.require(number, within: limits, key, path: path) }
            return number
        }
        self.init()
        hiddenSize = try integer("clip.audio.embedding_length", within: Limits.hiddenSize)
        layerCount = try integer("clip.audio.block_count", within: Limits.layerCount)
        headCount = try integer("clip.audio.attention.head_count", within: Limits.headCount)
        textHiddenSize = try integer("clip.audio.projection_dim", within: Limits.textHiddenSize)
        let feedForward = try integer("clip.audio.feed_forward_length")
        guard feedForward == 4 * hiddenSize else {
            throw fail("clip.audio.feed_forward_length is \(feedForward), but a Gemma 4 audio encoder's FFN is "
                       + "4 × embedding_length = \(4 * hiddenSize)")
        }
        if metadata["clip.audio.num_mel_bins"] != nil {
            let bins = try integer("clip.audio.num_mel_bins")
            guard bins == melBins else {
                throw fail("clip.audio.num_mel_bins is \(bins); the Gemma 4 encoder reads \(melBins) mel bins")
            }
        }
        if let epsilon = metadata["clip.audio.attention.layer_norm_epsilon"] {
            guard let value = epsilon.floatValue else {
                throw fail("clip.audio.attention.layer_norm_epsilon is \(epsilon), not a float")
            }
            rmsNormEps = Float(value)
        }

        func dimensions(_ name: String, rank: Int, _ meaning: String) throws -> [Int] {
            guard let tensor = file.tensor(name) else {
                throw fail("tensor '\(name)' is missing, so \(meaning) is unknown")
            }
            guard tensor.dimensions.count == rank else {
                throw fail("tensor '\(name)' has ne \(tensor.dimensions), expected \(rank) dimensions")
            }
            return tensor.dimensions
        }
        let output = try dimensions("a.pre_encode.out.weight", rank: 2, "output_proj_dims")   // {H, P}
        guard output[0] == hiddenSize else {
            throw fail("tensor 'a.pre_encode.out.weight' has ne \(output), but ne[0] must be embedding_length "
                       + "\(hiddenSize)")
        }
        outputProjectionSize = output[1]
        let conv0 = try dimensions("a.conv1d.0.weight", rank: 4, "subsampling_conv_channels[0]")  // {3, 3, 1, C0}
        let conv1 = try dimensions("a.conv1d.1.weight", rank: 4, "subsampling_conv_channels[1]")  // {3, 3, C0, C1}
        subsamplingChannels = [conv0[3], conv1[3]]
        useClippedLinears = file.tensorNames.contains { name in
            GGUFNames.clampSuffixes.contains { name.hasSuffix("." + $0) }
        }
        try validate(path: path)
    }
}

// MARK: - Loading

extension Gemma4AudioModel {
    /// Loads the audio encoder of a llama.cpp / ollama `mmproj` GGUF (F32, F16, BF16 or Q8_0 tensors, read as
    /// Float32, then put in the form `precision` multiplies with). Binding is as strict as for safetensors; its
    /// errors name the GGUF file and the GGUF tensor.
    public convenience init(gguf path: String, precision: ComputePrecision = .f32) throws {
        let checkpoint = try Gemma4GGUFCheckpoint(path: path)
        do {
            try self.init(configuration: checkpoint.configuration, tensors: checkpoint, sourceDescription: path,
                          precision: precision)
        } catch let error as ModelError {
            throw checkpoint.describingGGUFNames(error)
        }
    }

    /// Whether `path` is to be loaded as GGUF: it names a regular file ending in `.gguf` or starting with the GGUF
    /// magic.
    public static func isGGUF(path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue
        else { return false }
        return path.lowercased().hasSuffix(".gguf") || GGUFFile.startsWithMagic(path: path)
    }
}

// MARK: - Summary (earshot inspect)

/// What `earshot inspect` reports about a model path, from headers and metadata alone (no weight is converted).
public struct Gemma4AudioCheckpointSummary: Sendable {
    /// "Hugging Face safetensors …" or "GGUF v3 mmproj …".
    public let format: String
    /// The path as given.
    public let path: String
    public let configuration: Gemma4AudioConfiguration
    /// Audio tensors (encoder and embedder), clamp scalars included.
    public let tensorCount: Int
    /// How many audio tensors are stored in each type, by type name ("F32", "BF16", "Q8_0", …).
    public let storedTypes: [String: Int]
    /// Parameters of the audio tensors, clamp scalars excluded (as ``Gemma4AudioModel/parameterCount`` counts).
    public let parameterCount: Int
    /// Clamp scalars (4 per ClippableLinear when clipped linears are on).
    public let clampCount: Int
    /// The bytes the audio tensors take on disk, as stored.
    public let storedBytes: Int
    /// Tensors of the file that are not part of the audio path (GGUF vision tensors); `nil` when not counted.
    public let skippedTensorCount: Int?

    /// Reads the headers of the model at `path`: an mmproj GGUF, a Hugging Face model directory, or its
    /// `config.json` / a `.safetensors` file in one.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.noSuchFile(path: path)
        }
        self.path = path
        var clamps = 0, parameters = 0, bytes = 0
        var types: [String: Int] = [:]
        func isClamp(_ name: String) -> Bool { GGUFNames.clampSuffixes.contains { name.hasSuffix("." + $0) } }
        if Gemma4AudioModel.isGGUF(path: path) {
            let checkpoint = try Gemma4GGUFCheckpoint(path: path)
            configuration = checkpoint.configuration
            tensorCount = checkpoint.tensorNames.count
            for name in checkpoint.file.tensorNames {
                let stored = checkpoint.file.tensor(name)!
                types[stored.type.name, default: 0] += 1
                bytes += stored.byteCount ?? 0
                if isClamp(name) { clamps += 1 } else { parameters += stored.elementCount }
            }
            skippedTensorCount = checkpoint.skippedTensorCount
            let vision = checkpoint.file.metadata["clip.has_vision_encoder"]?.boolValue == true ? ", with vision" : ""
            format = "GGUF v\(checkpoint.file.version) mmproj (clip, gemma4a\(vision); alignment "
                + "\(checkpoint.file.alignment))"
        } else {
            var directory = path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                directory = (path as NSString).deletingLastPathComponent
            }
            let checkpoint = try HFCheckpointDirectory(path: directory, prefixes: Gemma4AudioWeights.prefixes)
            configuration = try Gemma4AudioConfiguration(configJSON: checkpoint.configData,
                                                         path: directory + "/config.json")
            tensorCount = checkpoint.tensorNames.count
            var files: Set<String> = []
            for name in checkpoint.tensorNames {
                let info = checkpoint.info(name)!
                types[info.dtype.rawValue, default: 0] += 1
                bytes += info.byteCount
                files.insert(info.file)
                if isClamp(name) { clamps += 1 } else { parameters += info.elementCount }
            }
            skippedTensorCount = nil
            format = files.count > 1 ? "Hugging Face safetensors (\(files.count) shards)"
                                     : "Hugging Face safetensors (single file)"
        }
        storedTypes = types
        parameterCount = parameters
        clampCount = clamps
        storedBytes = bytes
    }
}

// MARK: - Fingerprint (earshot inspect)

extension Gemma4AudioCheckpointSummary {
    /// Hands `update` the bytes that `earshot inspect`'s fingerprint hashes, for the model at `path` (a Hugging Face
    /// model directory, a file in one, or an mmproj GGUF): for every audio tensor, in byte order of the names, the
    /// line `name dtype shape\n` (shape as `a×b`, dtype as stored: F32, BF16, Q8_0 …), then the tensor's bytes as
    /// stored (a Q8_0 tensor: its values read as little-endian binary32, since its blocks are not exposed).
    ///
    /// So the same tensors give the same fingerprint however a checkpoint is sharded, while another dtype, another
    /// format (a GGUF names and lays out tensors its own way) or any changed weight gives another.
    public static func fingerprintInput(path: String, _ update: (UnsafeRawBufferPointer) -> Void) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError.noSuchFile(path: path) }
        func header(_ name: String, _ type: String, _ shape: [Int]) {
            var line = "\(name) \(type) \(shape.map(String.init).joined(separator: "×"))\n"
            line.withUTF8 { update(UnsafeRawBufferPointer($0)) }
        }
        if Gemma4AudioModel.isGGUF(path: path) {
            let file = try Gemma4GGUFCheckpoint(path: path).file
            for name in file.tensorNames.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                let tensor = file.tensor(name)!
                header(name, tensor.type.name, tensor.shape)
                if let bytes = file.storedBytes(name) {
                    update(bytes)
                } else {
                    var values = [Float](repeating: 0, count: tensor.elementCount)
                    try values.withUnsafeMutableBufferPointer { try file.read(name, into: $0) }
                    values.withUnsafeBytes { update($0) }   // little-endian on every platform Earshot runs on
                }
            }
            return
        }
        var directory = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            directory = (path as NSString).deletingLastPathComponent
        }
        let checkpoint = try HFCheckpointDirectory(path: directory, prefixes: Gemma4AudioWeights.prefixes)
        for name in checkpoint.tensorNames.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let info = checkpoint.info(name)!
            header(name, info.dtype.rawValue, info.shape)
            if let bytes = checkpoint.storedBytes(name) { update(bytes) }
        }
    }
}
