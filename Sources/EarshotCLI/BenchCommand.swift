import ArgumentParser
import EchoAudio
import Foundation
import Gemma4Audio

/// `earshot bench`: offline speed, streaming latency, live capacity and memory, in one run.
public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure offline real-time factor, per-block latency, live-stream capacity, memory and load time.",
        discussion: """
            Runs on deterministic synthetic audio. --random e2b|e4b uses real-size random weights (no checkpoint \
            needed). Capacity is the most streams, each delivering one 12-token block (480 ms) per tick, whose \
            p99 tick time stays under 480 ms on --threads compute threads. The machine is shared: compare runs \
            made in the same session, not against numbers from elsewhere.
            Echo (--random echo, or --model an Echo directory) is windowed, not streamed: bench times one window \
            (ctx frames) from each input — mel (frontend included), waveform, fused — best of --runs after one \
            warm-up, on --threads product threads (--json: the same as JSON); tools/bench/echo_torch_peer.py times the \
            seed's PyTorch on the same window (docs/echo.md).
            """)

    @Option(help: "A model path (Hugging Face directory or mmproj GGUF).")
    var model: String?

    @Option(help: "Real-size random weights instead of a checkpoint: e2b, e4b or echo (the Echo seed's Dimensions).")
    var random: String?

    @Option(help: "Seconds of synthetic audio for the offline and streaming runs.")
    var seconds: Double = 10

    @Option(help: "The most concurrent live streams to try for capacity.")
    var streams: Int = 32

    @Option(help: "Threads: product threads offline and for the one-stream block latency; parallel compute threads (one product thread each) for capacity.")
    var threads: Int = 2

    @Option(help: "Tokens per block for the one-stream latency (1…12; one token is 40 ms of audio).")
    var blockTokens: Int = 12

    @Option(help: "auto (the fastest that meets the accuracy bar here), f32 (exact, Earshot's kernels) bf16 (oneDNN split bf16; needs native bf16) or fast (bf16 dot products on Earshot's kernels; needs AVX512_BF16).")
    var precision: PrecisionSetting = .auto

    @Option(help: "Echo: timed passes per input kind, after one warm-up.")
    var runs: Int = 3

    @Flag(help: "Print the report as JSON on stdout (progress goes to stderr).")
    var json = false

    @Flag(help: "Show the running phase on standard error even when it is not a terminal (on a terminal it always shows).")
    var progress = false

    public init() {}

    public func validate() throws {
        guard (model == nil) != (random == nil) else { throw ValidationError("give exactly one of --model or --random") }
        guard seconds >= 1 else { throw ValidationError("--seconds must be at least 1") }
        guard streams >= 1, threads >= 1 else { throw ValidationError("--streams and --threads must be positive") }
        do { try Gemma4AudioConfiguration.validate(blockTokens: blockTokens) } catch {
            throw ValidationError("--\(error)")
        }
    }

    public func run() throws {
        let path = model ?? "random:\(random ?? "")"
        if EchoModel.isEchoModel(path: path) {
            let asJSON = json
            let report = try CommandLineErrors.reporting {
                try EchoBenchmark.run(modelPath: path, threads: threads, runs: max(1, runs)) { line in
                    if asJSON { printError(line) } else { print(line) }
                    fflush(nil)
                }
            }
            if json { print(try Self.json(report)) }
            return
        }
        let asJSON = json
        let display = ProgressLine(forced: progress)
        let report = try CommandLineErrors.reporting {
            try Benchmark.run(modelPath: path, precision: precision.resolved, seconds: seconds, maxStreams: streams,
                              threads: threads, blockTokens: blockTokens,
                              phase: { display.show($0, force: true) }) { line in
                display.clear()
                if asJSON { printError(line) } else { print(line) }
                fflush(nil)   // each line as its phase ends, on a pipe too (all C streams: Swift 6 rejects `stdout`)
            }
        }
        display.clear()
        if json {
            print(try Self.json(report))
        } else {
            print(String(format: "peak RSS %.0f MB", report.peakResidentMB))
        }
    }
}

extension BenchCommand {
    /// A report as the `--json` output prints it.
    static func json(_ report: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }
}

/// `--precision`, parsed by `PrecisionSetting(rawValue:)` (ArgumentParser's default for a String enum).
extension PrecisionSetting: ExpressibleByArgument {}
