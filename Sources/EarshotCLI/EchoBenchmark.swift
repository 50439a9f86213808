#if canImport(Glibc)
import Glibc
#endif
import EchoAudio
import Foundation
import Kernels

/// What `earshot bench --json` reports for an Echo model.
public struct EchoBenchmarkReport: Codable, Sendable {
    /// One input kind's best window.
    public struct Window: Codable, Sendable {
        public var inputs: String
        public var bestSeconds: Double
        /// CPU seconds of the best run, all threads.
        public var cpuSeconds: Double
        /// Seconds per second of audio (a window's audio in its best time).
        public var realTimeFactor: Double
    }

    public var model: String
    public var family = "echo"
    public var cpu: String
    /// Earshot's kernels: "avx512", "avx2", "portable".
    public var instructionSet: String
    public var threads: Int
    public var runs: Int
    public var loadSeconds: Double
    /// One window's audio: ctx · 160 samples at 16 kHz.
    public var windowSeconds: Double
    public var windows: [Window]
    public var peakResidentMB: Double
}

/// `earshot bench` on an Echo model: the time to encode one window (ctx frames) from each input — the log-mel
/// (frontend included), the waveform, both — best of `runs` after one warm-up, on synthetic audio. The peer is
/// `tools/bench/echo_torch_peer.py`, the seed's PyTorch on the same window; run both in one session.
enum EchoBenchmark {
    @discardableResult
    static func run(modelPath: String, threads: Int, runs: Int, line: (String) -> Void) throws -> EchoBenchmarkReport {
        let loadStart = ContinuousClock.now
        let model = try EchoModel.load(path: modelPath)
        let loadSeconds = seconds(since: loadStart)
        let c = model.configuration
        let samples = c.frontend.windowSamples
        // The peer's signal: a 220 Hz tone under a 0.7 Hz envelope.
        let audio = (0..<samples).map { i -> Float in
            let t = Double(i) / 16_000
            return Float(0.3 * sin(2 * .pi * 220 * t) * sin(2 * .pi * 0.7 * t))
        }
        let scratch = EchoScratch(model: model, threads: threads)
        var out = [Float](repeating: 0, count: c.context * c.width)
        line("model \(modelPath): Echo, dims \(c.width), \(c.layerCount) layers, ctx \(c.context) "
             + String(format: "(window %.1f s); %d threads, f32 on %@ kernels; loaded in %.2f s",
                      Double(samples) / 16_000, threads, Matmul.instructionSet, loadSeconds))
        line("cpu \(Benchmark.cpuName())")
        var windows: [EchoBenchmarkReport.Window] = []
        for inputs in [EchoInputs.mel, .waveform, .fused] {
            var (best, bestCPU) = (Double.infinity, Double.infinity)
            for run in 0...runs {
                let (start, startCPU) = (ContinuousClock.now, processCPUSeconds())
                audio.withUnsafeBufferPointer {
                    model.encodeWindow($0, inputs: inputs, scratch: scratch, into: &out)
                }
                if run > 0 {
                    best = min(best, seconds(since: start))
                    bestCPU = min(bestCPU, processCPUSeconds() - startCPU)
                }
            }
            // CPU seconds (all threads) beside the wall time: on a shared machine they vary far less.
            let realTimeFactor = best / (Double(samples) / 16_000)
            line(inputs.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                 + String(format: " best %.3f s per window (RTF %.4f), %.3f CPU s", best, realTimeFactor, bestCPU))
            windows.append(.init(inputs: inputs.rawValue, bestSeconds: best, cpuSeconds: bestCPU,
                                 realTimeFactor: realTimeFactor))
        }
        return EchoBenchmarkReport(model: modelPath, cpu: Benchmark.cpuName(), instructionSet: Matmul.instructionSet,
                                   threads: threads, runs: runs, loadSeconds: loadSeconds,
                                   windowSeconds: Double(samples) / 16_000, windows: windows,
                                   peakResidentMB: Benchmark.memoryMB("VmHWM"))
    }

    private static func processCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
