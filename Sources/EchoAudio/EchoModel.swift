import Checkpoint
import Foundation
import Frontend
import Kernels

/// A loaded Echo audio encoder (the seed document's `AudioEncoder`): configuration, immutable weights and the
/// log-mel frontend, shared by every pass and thread. Per-thread work space is an `EchoScratch`; a stream's pending
/// window is an `EchoWindowStream`.
///
/// Echo is not causal — every output row attends to every frame of its window — so it runs in windows of `ctx`
/// frames (`ctx · 160` samples, 15 s at the seed's 1500), each encoded whole (see `encodeWindow`).
public final class EchoModel: Sendable {
    public let configuration: EchoConfiguration
    let weights: EchoWeights
    /// The feature extractor, built once (its DFT table and filters).
    public let frontend: WhisperLogMel
    /// Where the model came from, for logs and errors.
    public let sourceDescription: String

    /// The files of an Echo model directory.
    public enum DirectoryFile {
        /// `{"family": "echo"}` (and optionally `"inputs": "mel" | "waveform" | "fused"`): says the directory is
        /// an Echo model.
        public static let marker = "earshot-model.json"
        /// The seed's `Dimensions`, as `json.dump(dataclasses.asdict(param))` writes it.
        public static let dimensions = "dimensions.json"
        /// The state_dict: a full `Echo` (`encoder.*` keys; `decoder.*` is ignored) or a bare `AudioEncoder`.
        public static let weights = "model.safetensors"
    }

    /// The random-weights model path: the seed's own Dimensions.
    public static let randomPath = "random:echo"

    /// Binds `tensors` (the seed's state_dict) under `configuration`.
    public init(configuration: EchoConfiguration, tensors: any TensorSource, sourceDescription: String) throws {
        try configuration.validate(path: sourceDescription)
        self.configuration = configuration
        self.sourceDescription = sourceDescription
        var binder = EchoWeightBinder(source: tensors, sourceName: sourceDescription, configuration: configuration)
        weights = try EchoWeights(binder: &binder, configuration: configuration)
        frontend = WhisperLogMel(configuration.frontend)
    }

    /// A model of `configuration`'s size with deterministic random weights: for demos and benchmarks. Its
    /// embeddings mean nothing.
    public init(randomWeights configuration: EchoConfiguration = .seed, seed: UInt64 = 0) throws {
        try configuration.validate(path: "random")
        self.configuration = configuration
        sourceDescription = "random Echo weights, \(configuration.width)-wide, \(configuration.layerCount) layers, "
            + "seed \(seed) (demo only: these embeddings mean nothing)"
        var binder = EchoWeightBinder(randomSeed: seed, configuration: configuration)
        weights = try EchoWeights(binder: &binder, configuration: configuration)
        frontend = WhisperLogMel(configuration.frontend)
    }

    /// Loads `random:echo` or an Echo model directory (see ``DirectoryFile``).
    public static func load(path: String) throws -> EchoModel {
        if path == randomPath { return try EchoModel(randomWeights: .seed) }
        guard isEchoDirectory(path: path) else {
            throw EchoError(.notAModel, file: path, "is not an Echo model directory (no \(DirectoryFile.marker) "
                            + "saying {\"family\": \"echo\"})")
        }
        let marker = try markerFields(directory: path)
        let dimensionsPath = path + "/" + DirectoryFile.dimensions
        guard let dimensions = FileManager.default.contents(atPath: dimensionsPath) else {
            throw EchoError(.invalidConfiguration, file: dimensionsPath, "cannot be read")
        }
        var configuration = try EchoConfiguration(dimensionsJSON: dimensions, path: dimensionsPath)
        if let inputs = marker["inputs"] {
            guard let name = inputs as? String, let value = EchoInputs(rawValue: name) else {
                throw EchoError(.invalidConfiguration, file: path + "/" + DirectoryFile.marker,
                                "\"inputs\" is \(inputs), not one of "
                                + EchoInputs.allCases.map(\.rawValue).joined(separator: ", "))
            }
            configuration.defaultInputs = value
        }
        let weightsPath = path + "/" + DirectoryFile.weights
        let tensors = try SafetensorsFile(path: weightsPath)
        return try EchoModel(configuration: configuration, tensors: tensors, sourceDescription: weightsPath)
    }

    /// Whether `path` names Echo: `random:echo`, or a directory whose `earshot-model.json` says
    /// `"family": "echo"`.
    public static func isEchoModel(path: String) -> Bool {
        path == randomPath || isEchoDirectory(path: path)
    }

    private static func isEchoDirectory(path: String) -> Bool {
        (try? markerFields(directory: path))?["family"] as? String == "echo"
    }

    private static func markerFields(directory: String) throws -> [String: Any] {
        let markerPath = directory + "/" + DirectoryFile.marker
        guard let data = FileManager.default.contents(atPath: markerPath) else {
            throw EchoError(.notAModel, file: markerPath, "cannot be read")
        }
        guard let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw EchoError(.invalidConfiguration, file: markerPath, "is not a JSON object")
        }
        return fields
    }

    /// Parameters bound (the encoder's, `blend_sw` and `blend_xa` included).
    public var parameterCount: Int { weights.parameterCount }

    /// `blend_sw` as the checkpoint stores it. The seed blends with `sigmoid(0.5)` whatever it holds (see
    /// `EchoConfiguration.seedBlendLogit`), and so does Earshot; `earshot inspect` shows both.
    public var storedBlendLogit: Float { weights.storedBlendLogit }

    /// Encodes one window of at most `windowSamples` 16 kHz samples (fewer are zero-padded at the end, as the
    /// feature extractor pads) into `out`, `(ctx, dims)`: the log-mel of the padded window, the padded window
    /// itself as the waveform (`[1, 1, ctx·160]`), or both, as `inputs` says.
    /// Every `EchoInputs` names at least one input, and the padded waveform is a whole window, so this cannot fail.
    public func encodeWindow(_ samples: UnsafeBufferPointer<Float>, inputs: EchoInputs, scratch: EchoScratch,
                             into out: UnsafeMutablePointer<Float>) {
        let window = configuration.frontend.windowSamples
        precondition(samples.count <= window, "a window holds at most \(window) samples")
        if inputs.usesMel {
            frontend.logMel(samples, into: scratch.melFrames.base, scratch: scratch.frontendWork.base,
                            threads: scratch.threads)
        }
        guard inputs.usesWaveform else {
            return run(mel: scratch.melFrames.base, waveform: nil, scratch: scratch, into: out)
        }
        let padded = scratch.window.base
        if let first = samples.baseAddress { padded.update(from: first, count: samples.count) }
        (padded + samples.count).update(repeating: 0, count: window - samples.count)
        run(mel: inputs.usesMel ? scratch.melFrames.base : nil,
            waveform: UnsafeBufferPointer(start: padded, count: window), scratch: scratch, into: out)
    }

    /// The log-mel frames of the window `encodeWindow` last encoded with a mel input, `(ctx, mels)` time-major (the
    /// live view's spectrogram).
    public func lastLogMel(_ scratch: EchoScratch) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: scratch.melFrames.base, count: configuration.context * configuration.melBins)
    }
}
