import ArgumentParser
import Checkpoint
import Crypto
import EchoAudio
import Foundation
import Gemma4Audio

/// `earshot inspect`: what a model path holds, from its headers and metadata (no weight is converted), and a
/// fingerprint of its audio weights.
public struct InspectCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe an audio model (Gemma 4 or Echo): family, format, sizes, dtypes, parameters, fingerprint.",
        discussion: """
            Takes the same model paths as encode: a Hugging Face model directory (or its config.json or a \
            .safetensors file inside it), a llama.cpp / ollama mmproj .gguf, or random:e2b / random:e4b. Reads \
            headers, then hashes the audio tensors for the fingerprint: SHA-256 over each audio tensor's name, \
            dtype and shape and its bytes as stored, in name order (docs/models.md). The same tensors give the \
            same fingerprint however the checkpoint is sharded; another dtype or format gives another. Hashing \
            reads every audio weight once (about 0.6 GB at E2B size in bf16: a second or two). \
            `earshot encode` binds and checks every weight. The first line names the model family: gemma4, or echo \
            (random:echo, or a directory whose earshot-model.json says {"family": "echo"}); an Echo model is bound \
            in full (it is small), and its fingerprint hashes the encoder's tensors by the same rule.
            """)

    @Option(help: "A Hugging Face Gemma 4 model directory, a llama.cpp mmproj .gguf, an Echo model directory, or random:e2b / random:e4b / random:echo.")
    var model: String

    public init() {}

    public func run() throws {
        if EchoModel.isEchoModel(path: model) {
            let loaded = try CommandLineErrors.reporting { try EchoModel.load(path: model) }
            let fingerprint = model == EchoModel.randomPath ? nil
                : try CommandLineErrors.reporting { try Inspection.echoFingerprint(directory: model) }
            print(Inspection.report(echo: loaded, path: model, fingerprint: fingerprint), terminator: "")
            return
        }
        if model.hasPrefix("random:") {
            let loaded = try CommandLineErrors.reporting { try Gemma4AudioModel.load(path: model) }
            print(Inspection.report(random: loaded, path: model), terminator: "")
            return
        }
        let summary = try CommandLineErrors.reporting { try Gemma4AudioCheckpointSummary(path: model) }
        let fingerprint = try CommandLineErrors.reporting { try Inspection.fingerprint(path: model) }
        print(Inspection.report(summary, fingerprint: fingerprint), terminator: "")
    }
}

/// The text `earshot inspect` prints.
public enum Inspection {
    /// One `name: value` line per fact, in a fixed order.
    public static func report(_ s: Gemma4AudioCheckpointSummary, fingerprint: String? = nil) -> String {
        let types = s.storedTypes.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .map { "\($0.key) × \($0.value)" }.joined(separator: ", ")
        var lines: [(String, String)] = [("model", s.path), ("family", "gemma4"), ("format", s.format)]
            + configurationLines(s.configuration)
        lines += [
            ("audio tensors", "\(s.tensorCount) (\(s.clampCount) clamp scalars)"),
            ("stored types", types),
            ("parameters", "\(grouped(s.parameterCount)) (clamps excluded)"),
            ("bytes on disk", "\(grouped(s.storedBytes)) (\(megabytes(s.storedBytes)))"),
        ]
        if let skipped = s.skippedTensorCount {
            lines.append(("skipped tensors", "\(skipped) (vision tower and projector)"))
        }
        if let fingerprint { lines.append(("fingerprint", "sha256:" + fingerprint)) }
        return aligned(lines)
    }

    /// The report for `random:e2b` / `random:e4b`: real-size deterministic random weights, held in memory.
    public static func report(random model: Gemma4AudioModel, path: String) -> String {
        aligned([("model", path), ("family", "gemma4"), ("format", model.sourceDescription)]
                 + configurationLines(model.configuration) + [
            ("parameters", "\(grouped(model.parameterCount)) (clamps excluded)"),
            ("projection bytes", "\(grouped(model.projectionByteCount)) (\(megabytes(model.projectionByteCount)), in memory)"),
            ("fingerprint", "none: random weights are defined by their seed"),
        ])
    }

    /// The report for an Echo model (bound in full: `random:echo`, or a directory).
    public static func report(echo model: EchoModel, path: String, fingerprint: String?) -> String {
        let c = model.configuration
        let f = c.frontend
        let activation = c.activation.rawValue == c.activationName ? c.activationName
            : "\(c.activationName) (not in the seed's act_map: GELU, as the seed falls back)"
        let blend = 1 / (1 + exp(-Double(EchoConfiguration.seedBlendLogit)))
        var blendLine = String(format: "sigmoid(0.5) = %.7f (the seed computes it once, at construction)", blend)
        if model.storedBlendLogit != EchoConfiguration.seedBlendLogit {
            blendLine += "; blend_sw stored as \(model.storedBlendLogit), which the seed's forward does not read"
        }
        return aligned([
            ("model", path), ("family", "echo"), ("format", model.sourceDescription),
            ("mels", "\(c.melBins)"),
            ("ctx", String(format: "%d frames per window (%d samples, %.2f s)", c.context, f.windowSamples,
                           Double(f.windowSamples) / Double(f.sampleRate))),
            ("dims", "\(c.width)"),
            ("attention heads", "\(c.headCount) (head dim \(c.headDimension))"),
            ("layers", "\(c.layerCount)"),
            ("act", activation + "; the blocks' MLPs use relu (the seed's Residual default)"),
            ("frontend", "WhisperFeatureExtractor(feature_size=\(f.melBins), sampling_rate=\(f.sampleRate), "
                + "hop_length=\(f.hopLength), n_fft=\(f.fftLength)), one window of \(f.windowSamples) samples"),
            ("inputs", "\(c.defaultInputs.rawValue) by default (mel, waveform or fused)"),
            ("blend", blendLine),
            ("parameters", grouped(model.parameterCount)),
            ("fingerprint", fingerprint.map { "sha256:" + $0 } ?? "none: random weights are defined by their seed"),
        ])
    }

    /// SHA-256, in hex, over an Echo checkpoint's encoder tensors in byte order of their names: each one's line
    /// `name dtype shape\n` (shape as `a×b`), then its bytes as stored — the rule Gemma 4's audio tensors follow
    /// (`Gemma4AudioCheckpointSummary.fingerprintInput`).
    public static func echoFingerprint(directory: String) throws -> String {
        let file = try SafetensorsFile(path: directory + "/" + EchoModel.DirectoryFile.weights)
        let prefix = file.tensorNames.contains { $0.hasPrefix("encoder.") } ? "encoder." : ""
        var hash = SHA256()
        for name in file.tensorNames where name.hasPrefix(prefix) {
            guard let info = file.info(name) else { continue }
            let shape = info.shape.map(String.init).joined(separator: "×")
            hash.update(data: Data("\(name) \(info.dtype.rawValue) \(shape)\n".utf8))
            if let bytes = file.storedBytes(name) { hash.update(bufferPointer: bytes) }
        }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256, in hex, of ``Gemma4AudioCheckpointSummary/fingerprintInput(path:_:)``.
    public static func fingerprint(path: String) throws -> String {
        var hash = SHA256()
        try Gemma4AudioCheckpointSummary.fingerprintInput(path: path) { hash.update(bufferPointer: $0) }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private static func configurationLines(_ c: Gemma4AudioConfiguration) -> [(String, String)] {
        [
            ("hidden size", "\(c.hiddenSize)"),
            ("layers", "\(c.layerCount)"),
            ("attention heads", "\(c.headCount) (head dim \(c.headDimension))"),
            ("SSCP channels", c.subsamplingChannels.map(String.init).joined(separator: ", ")),
            ("output_proj_dims", "\(c.outputProjectionSize)"),
            ("embedding width D", "\(c.textHiddenSize)"),
            ("clipped linears", c.useClippedLinears ? "on" : "off"),
            ("RMSNorm epsilon", "\(c.rmsNormEps)"),
        ]
    }

    private static func aligned(_ lines: [(String, String)]) -> String {
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 1) + $0.1 + "\n" }
            .joined()
    }

    /// 304824608 → "304 824 608".
    private static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(" ") }
            out.append(d)
        }
        return out
    }

    private static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_000_000)
    }
}
