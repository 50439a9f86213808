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
