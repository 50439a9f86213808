import ArgumentParser
import AudioCore
import Foundation
import Kernels
import VoiceActivity

/// `earshot vad`: an audio file in, Silero VAD's per-window speech probabilities and speech start/end events out.
public struct VADCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "vad",
        abstract: "Voice activity (Silero VAD v6): per-window speech probabilities and speech start/end events.",
        discussion: """
            Reads an audio file (any format encode reads, - for standard input; channels averaged, resampled to \
            16 kHz as for encode) and runs Silero VAD \
            v6 on each 512-sample (32 ms) window, the last one zero-padded. Prints one JSON line per event on \
            stdout, as silero-vad's VADIterator returns them: {"start": N} or {"end": N}, N a sample index at \
            16 kHz. --output writes the probabilities as float32 .npy [windows]: window k covers samples \
            [512k, 512k + 512).
            The weights (--vad-model) default to the shipped models/silero-vad/silero_vad_16k_v6.safetensors, \
            found as: $EARSHOT_VAD_MODEL when set; else <executable dir>/../share/earshot/silero-vad/; else \
            models/silero-vad/ in the nearest directory above the executable that has one (a build in a checkout); \
            else /usr/local/share/earshot/silero-vad/, then /usr/share/earshot/silero-vad/.
            --bench times the windows on one core instead of printing events.
            """)

    @Option(help: "The audio file to analyse (any format encode reads; - for standard input).")
    var input: String

    @Option(help: "Where to write the per-window probabilities (.npy, float32 [windows]).")
    var output: String?

    @Option(help: "A window with probability ≥ this is speech; speech ends below this − 0.15.")
    var threshold: Double = 0.5

    @Option(help: "Milliseconds below the threshold − 0.15 that end speech.")
    var minSilenceMs: Int = 100

    @Option(help: "Milliseconds reported before a start and after an end.")
    var speechPadMs: Int = 30

    @Option(help: "The Silero VAD weights (.safetensors from tools/vad/convert_silero.py); default: the shipped file.")
    var vadModel: String?

    @Flag(help: "Time the windows on one core (at least --bench-seconds of computing) and print the figures instead of events.")
    var bench = false

    @Option(help: "With --bench: seconds of computing to measure.")
    var benchSeconds: Double = 3

    public init() {}

    public func validate() throws {
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be in (0, 1)") }
        guard minSilenceMs >= 0, speechPadMs >= 0 else {
            throw ValidationError("--min-silence-ms and --speech-pad-ms must not be negative")
        }
        guard benchSeconds > 0, benchSeconds.isFinite else { throw ValidationError("--bench-seconds must be positive") }
    }

    public func run() throws {
        let events = SpeechEventConfiguration(threshold: threshold, minSilenceMs: minSilenceMs,
                                              speechPadMs: speechPadMs)
        let (weights, samples) = try CommandLineErrors.reporting {
            (try SileroVADWeights(path: try vadModel ?? VADModelLocation.resolve()),
             try AudioInput.loadMono16k(path: input))
        }
        let result = VoiceActivityRun.run(weights: weights, samples: samples, events: events)
        if let output {
            try CommandLineErrors.reporting {
                try NPY.write(FloatArray(shape: [result.probabilities.count], values: result.probabilities),
                              path: output)
            }
        }
        if bench {
            let timing = VADBenchmark.bench(weights: weights, samples: samples, seconds: benchSeconds)
            print(timing.summary)
        } else {
            for event in result.events { print(event.json) }
        }
    }
}

/// `earshot vad --bench`: Silero VAD's per-window compute time.
enum VADBenchmark {
    /// Per-window compute times on the calling thread.
    struct Timing: Sendable {
        let windows: Int
        let medianMicroseconds: Double
        let meanMicroseconds: Double
        let p99Microseconds: Double
        let cpu: String

        var summary: String {
            String(format: "vad: %d windows of 32 ms on one core: median %.1f µs, mean %.1f µs, p99 %.1f µs per "
                   + "window (budget 500 µs; real-time factor %.4f) — Earshot kernels %@, %@",
                   windows, medianMicroseconds, meanMicroseconds, p99Microseconds, meanMicroseconds / 32_000,
                   Matmul.instructionSet, cpu)
        }
    }

    /// Feeds `samples` (silence when empty of whole windows) to fresh streams, a window at a time, until at least
    /// `seconds` of computing were timed; each window is timed alone.
    static func bench(weights: SileroVADWeights, samples: [Float], seconds: Double) -> Timing {
        let window = SileroVADGeometry.windowSamples
        let audio = samples.count >= window ? Array(samples[0..<(samples.count / window * window)])
            : [Float](repeating: 0, count: window)
        let scratch = SileroVADScratch()
        var times: [Double] = []
        var total = 0.0
        audio.withUnsafeBufferPointer { all in
            while total < seconds {
                let stream = SileroVADStream(weights: weights)
                for start in stride(from: 0, to: all.count, by: window) {
                    let piece = UnsafeBufferPointer(rebasing: all[start..<(start + window)])
                    let begin = ContinuousClock.now
                    stream.accept(piece, scratch: scratch) { _ in }
                    let duration = ContinuousClock.now - begin
                    let elapsed = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
                    times.append(elapsed * 1e6)
                    total += elapsed
                }
            }
        }
        times.sort()
        return Timing(windows: times.count, medianMicroseconds: times[times.count / 2],
                      meanMicroseconds: total * 1e6 / Double(times.count),
                      p99Microseconds: times[min(times.count - 1, times.count * 99 / 100)],
                      cpu: Benchmark.cpuName())
    }
}
