import ArgumentParser
import Foundation
import Gemma4Audio

/// `earshot inspect`: what a model path holds, from its headers and metadata (no weight is converted).
public struct InspectCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a Gemma 4 audio model: format, sizes, dtypes, parameter count, bytes.",
        discussion: """
            Takes the same model paths as encode: a Hugging Face model directory (or its config.json or a \
            .safetensors file inside it) or a llama.cpp / ollama mmproj .gguf. Reads headers only; \
            `earshot encode` binds and checks every weight.
            """)

    @Option(help: "A Hugging Face Gemma 4 model directory, or a llama.cpp mmproj .gguf.")
    var model: String

    public init() {}

    public func run() throws {
        let summary = try CommandLineErrors.reporting { try Gemma4AudioCheckpointSummary(path: model) }
        print(Inspection.report(summary), terminator: "")
    }
}

/// The text `earshot inspect` prints.
public enum Inspection {
    /// One `name: value` line per fact, in a fixed order.
    public static func report(_ s: Gemma4AudioCheckpointSummary) -> String {
        let c = s.configuration
        let types = s.storedTypes.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .map { "\($0.key) × \($0.value)" }.joined(separator: ", ")
        var lines: [(String, String)] = [
            ("model", s.path),
            ("format", s.format),
            ("hidden size", "\(c.hiddenSize)"),
            ("layers", "\(c.layerCount)"),
            ("attention heads", "\(c.headCount) (head dim \(c.headDimension))"),
            ("SSCP channels", c.subsamplingChannels.map(String.init).joined(separator: ", ")),
            ("output_proj_dims", "\(c.outputProjectionSize)"),
            ("embedding width D", "\(c.textHiddenSize)"),
            ("clipped linears", c.useClippedLinears ? "on" : "off"),
            ("RMSNorm epsilon", "\(c.rmsNormEps)"),
            ("audio tensors", "\(s.tensorCount) (\(s.clampCount) clamp scalars)"),
            ("stored types", types),
            ("parameters", "\(grouped(s.parameterCount)) (clamps excluded)"),
            ("bytes on disk", "\(grouped(s.storedBytes)) (\(megabytes(s.storedBytes)))"),
        ]
        if let skipped = s.skippedTensorCount {
            lines.append(("skipped tensors", "\(skipped) (vision tower and projector)"))
        }
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
