import ArgumentParser
import Crypto
import Foundation
import Gemma4Audio

/// `earshot inspect`: what a model path holds, from its headers and metadata (no weight is converted), and a
/// fingerprint of its audio weights.
public struct InspectCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a Gemma 4 audio model: format, sizes, dtypes, parameter count, bytes, fingerprint.",
        discussion: """
            Takes the same model paths as encode: a Hugging Face model directory (or its config.json or a \
            .safetensors file inside it), a llama.cpp / ollama mmproj .gguf, or random:e2b / random:e4b. Reads \
            headers, then hashes the audio tensors for the fingerprint: SHA-256 over each audio tensor's name, \
            dtype and shape and its bytes as stored, in name order (docs/models.md). The same tensors give the \
            same fingerprint however the checkpoint is sharded; another dtype or format gives another. Hashing \
            reads every audio weight once (about 0.6 GB at E2B size in bf16: a second or two). \
            `earshot encode` binds and checks every weight.
            """)

    @Option(help: "A Hugging Face Gemma 4 model directory, a llama.cpp mmproj .gguf, or random:e2b / random:e4b.")
    var model: String

    public init() {}

    public func run() throws {
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
        var lines: [(String, String)] = [("model", s.path), ("format", s.format)] + configurationLines(s.configuration)
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
        aligned([("model", path), ("format", model.sourceDescription)] + configurationLines(model.configuration) + [
            ("parameters", "\(grouped(model.parameterCount)) (clamps excluded)"),
            ("projection bytes", "\(grouped(model.projectionByteCount)) (\(megabytes(model.projectionByteCount)), in memory)"),
            ("fingerprint", "none: random weights are defined by their seed"),
        ])
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
