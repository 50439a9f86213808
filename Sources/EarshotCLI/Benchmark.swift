#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Gemma4Audio
import Kernels

/// What `earshot bench` measures, in one run on one model.
public struct BenchmarkReport: Codable, Sendable {
    public var model: String
    public var precision: String
    /// The CPU as /proc/cpuinfo names it.
    public var cpu: String
    /// The instruction sets as the libraries see them: Earshot's kernels ("avx2", "portable") and oneDNN's.
    public var instructionSets: [String: String]
    /// What multiplies in each precision on this CPU.
    public var backends: [String: String]
    public var threads: Int
    public var blockTokens: Int
    public var loadSeconds: Double
    public var residentAfterLoadMB: Double
    public var audioSeconds: Double
    public var offlineSeconds: Double
    public var offlineRealTimeFactor: Double
    public var offlineGFLOPPerSecond: Double
    public var blockLatencyP50Milliseconds: Double
    public var blockLatencyP99Milliseconds: Double
    public var capacityStreams: Int
    public var capacityBlockP99Milliseconds: Double
    public var peakResidentMB: Double
    /// Seconds per stage over the offline run.
    public var offlineProfile: [String: Double]
}

/// The measurements behind `earshot bench`.
public enum Benchmark {
    /// Multiply-adds ×2 per token: every GEMM, the SSCP convolutions and attention's two small products.
    public static func flopsPerToken(_ c: Gemma4AudioConfiguration) -> Double {
        let h = Double(c.hiddenSize)
        let perLayer = 23 * h * h + 2 * Double(c.attentionWindow) * h + Double(c.convKernelSize) * h
        let sscp = Double(c.sscpFrequencies[1] * c.subsamplingChannels[1] * c.subsamplingChannels[0] * 9)
            + 2 * Double(c.sscpFrequencies[0] * c.subsamplingChannels[0] * 9)
        let edges = Double(c.sscpOutputWidth) * h + h * Double(c.outputProjectionSize)
            + Double(c.outputProjectionSize * c.textHiddenSize)
        return 2 * (Double(c.layerCount) * perLayer + sscp + edges)
    }

    /// Deterministic speech-like test audio: a gliding harmonic tone under amplitude modulation, plus noise.
    public static func syntheticAudio(seconds: Double) -> [Float] {
        let n = Int(seconds * 16_000)
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        return (0..<n).map { i in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let t = Double(i) / 16_000
            let pitch = 120 + 40 * sin(2 * .pi * 0.7 * t)
            var v = 0.0
            for k in 1...6 { v += sin(2 * .pi * pitch * Double(k) * t) / Double(k) }
            let envelope = 0.5 + 0.5 * sin(2 * .pi * 3.1 * t)
            return Float(0.15 * envelope * v + 0.01 * (Double(state >> 11) / 9.0e15 - 0.5))
        }
    }

    public static func run(modelPath: String, precision: ComputePrecision, seconds: Double, maxStreams: Int,
                           threads: Int, blockTokens: Int = 12, phase: (String) -> Void = { _ in },
                           log: (String) -> Void) throws -> BenchmarkReport {
        OneDNNEngine.setThreadCount(threads)
        let cpu = cpuName()
        let isas = ["kernels": Matmul.instructionSet, "onednn": OneDNNEngine.instructionSet]
        let backends = backendNames()
        log("cpu: \(cpu) — Earshot kernels \(isas["kernels"]!), oneDNN \(isas["onednn"]!)")
        log("backends: f32 = \(backends["f32"]!); bf16 = \(backends["bf16"]!); fast = \(backends["fast"]!); precision \(precision.rawValue)")
        phase("loading \(modelPath)…")
        let loadStart = ContinuousClock.now
        let model = try Gemma4AudioModel.load(path: modelPath, precision: precision)
        let loadSeconds = (ContinuousClock.now - loadStart).seconds
        let residentAfterLoad = memoryMB("VmRSS")
        log(String(format: "load: %.2f s, RSS %.0f MB — %@", loadSeconds, residentAfterLoad, model.sourceDescription))

        // Offline: one clip, one stream, passes as `earshot encode` makes them.
        phase(String(format: "offline: encoding %.1f s of audio…", seconds))
        let audio = syntheticAudio(seconds: seconds)
        let scratch = EncoderScratch(model: model, capacity: Gemma4AudioModel.offlinePassTokens, threads: threads)
        scratch.profile = PassProfile()
        let offlineStart = ContinuousClock.now
        let tokens = model.encode(audio, scratch: scratch).count
        let offlineSeconds = (ContinuousClock.now - offlineStart).seconds
        // What the passes did not time is the log-mel and the SSCP convolutions, which run as audio is accepted.
        let timedInPasses = scratch.profile?.total ?? 0
        scratch.profile?.add(.subsampling, seconds: offlineSeconds - timedInPasses)
        let gflops = flopsPerToken(model.configuration) * Double(tokens) / offlineSeconds / 1e9
        log(String(format: "offline: %d tokens from %.1f s in %.3f s — real-time factor %.4f, %.1f GFLOP/s",
                   tokens, seconds, offlineSeconds, offlineSeconds / seconds, gflops))
        var profile: [String: Double] = [:]
        for stage in PassProfile.Stage.allCases {
            let s = scratch.profile?.seconds[stage] ?? 0
            profile[stage.rawValue] = s
            log(String(format: "  %5.1f%%  %6.3f s  %@", 100 * s / offlineSeconds, s, stage.rawValue))
        }

        // Streaming: one stream fed blocks of `blockTokens` tokens; latency of each block's accept + pass.
        phase("stream: one stream, \(blockTokens)-token blocks…")
        let blockSamples = blockTokens * 640
        var latencies: [Double] = []
        let live = EncoderStream(model: model, blockTokens: blockTokens)
        let liveScratch = EncoderScratch(model: model, capacity: blockTokens, threads: threads)
        audio.withUnsafeBufferPointer { all in
            var offset = 0
            while offset + blockSamples <= all.count {
                let start = ContinuousClock.now
                live.accept(UnsafeBufferPointer(rebasing: all[offset..<offset + blockSamples]))
                model.drain([live], scratch: liveScratch) { _, _ in }
                latencies.append((ContinuousClock.now - start).seconds * 1000)
                offset += blockSamples
            }
        }
        let p50 = percentile(latencies, 0.5), p99 = percentile(latencies, 0.99)
        log(String(format: "stream: %d blocks of %d tokens (%d ms of audio) on %d threads — compute p50 %.1f ms, "
                   + "p99 %.1f ms", latencies.count, blockTokens, blockTokens * 40, threads, p50, p99))

        // Capacity: N streams, each delivering one 480 ms block per tick, encoded in batched passes on `threads`
        // compute threads (each with its own scratch, BLAS single-threaded); the most N whose p99 tick < 480 ms.
        var capacity = 0, capacityP99 = 0.0
        var n = 1
        while n <= maxStreams {
            phase("capacity: \(n) stream\(n == 1 ? "" : "s")…")
            let p99Tick = try measureTicks(model: model, streams: n, threads: threads, audio: audio)
            log(String(format: "capacity: %3d streams — tick p99 %6.1f ms %@", n, p99Tick,
                       p99Tick < 480 ? "(real time)" : "(too slow)"))
            guard p99Tick < 480 else { break }
            capacity = n; capacityP99 = p99Tick
            n = n < 8 ? n + 1 : (n < 12 ? n + 2 : n + 1)
        }
        OneDNNEngine.setThreadCount(threads)
        return BenchmarkReport(
            model: model.sourceDescription, precision: precision.rawValue, cpu: cpu, instructionSets: isas,
            backends: backends, threads: threads, blockTokens: blockTokens, loadSeconds: loadSeconds,
            residentAfterLoadMB: residentAfterLoad, audioSeconds: seconds, offlineSeconds: offlineSeconds,
            offlineRealTimeFactor: offlineSeconds / seconds, offlineGFLOPPerSecond: gflops,
            blockLatencyP50Milliseconds: p50, blockLatencyP99Milliseconds: p99, capacityStreams: capacity,
            capacityBlockP99Milliseconds: capacityP99, peakResidentMB: memoryMB("VmHWM"), offlineProfile: profile)
    }

    /// p99 over ticks of the time to accept one 480 ms block for each of `streams` streams and encode them all.
    /// As the daemon's scheduler does: the streams are split over `threads` compute threads, each encoding its
    /// streams in one batched pass with single-threaded products.
    private static func measureTicks(model: Gemma4AudioModel, streams: Int, threads: Int, audio: [Float]) throws
        -> Double {
        let workers = min(threads, streams)
        OneDNNEngine.setThreadCount(1)
        let groups: [[EncoderStream]] = (0..<workers).map { w in
            stride(from: w, to: streams, by: workers).map { _ in EncoderStream(model: model, blockTokens: 12) }
        }
        let scratches = groups.map { EncoderScratch(model: model, capacity: 12 * $0.count) }
        let workSet = WorkerSet(groups: groups, scratches: scratches)
        let blockSamples = 12 * 640
        let ticks = min(20, audio.count / blockSamples)
        var times: [Double] = []
        for tick in 0..<ticks {
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                OneDNNEngine.setThreadCount(1)
                audio.withUnsafeBufferPointer { all in
                    let piece = UnsafeBufferPointer(rebasing: all[tick * blockSamples..<(tick + 1) * blockSamples])
                    for stream in workSet.groups[w] { stream.accept(piece) }
                }
                model.drain(workSet.groups[w], scratch: workSet.scratches[w]) { _, _ in }
            }
            times.append((ContinuousClock.now - start).seconds * 1000)
        }
        return percentile(times, 0.99)
    }

    /// The CPU as /proc/cpuinfo names it, with its family and model (a hypervisor may hide the full name) and the
    /// vector extensions that matter here.
    static func cpuName() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        var fields: [String: String] = [:]
        for line in info.split(separator: "\n") {
            if line.isEmpty { break }   // the first processor is enough
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let flags = Set((fields["flags"] ?? "").split(separator: " ").map(String.init))
        let extensions = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"].filter(flags.contains)
        return "\(fields["model name"] ?? "unknown") (family \(fields["cpu family"] ?? "?"), model "
            + "\(fields["model"] ?? "?"); \(extensions.joined(separator: " ")))"
    }

    /// What multiplies in each precision here.
    static func backendNames() -> [String: String] {
        let bf16: String
        do {
            try ComputePrecision.bf16.checkAvailable()
            bf16 = "oneDNN matmul, split bf16 (\(OneDNNEngine.instructionSet))"
        } catch {
            bf16 = "unavailable (oneDNN has \(OneDNNEngine.instructionSet), no native bf16)"
        }
        let fast = BF16Matmul.runsNatively ? "Earshot kernels, vdpbf16ps (\(Matmul.instructionSet))"
            : "unavailable (Earshot's kernels run \(Matmul.instructionSet), no AVX512_BF16)"
        let (f32Stored, bf16Stored) = (Matmul.instructionSet, Matmul.instructionSet(forStored: .bf16))
        let kernels = f32Stored == bf16Stored ? f32Stored
            : "\(f32Stored) for f32-stored weights, \(bf16Stored) for bf16/f16-stored"
        return ["f32": "Earshot kernels (\(kernels)), weights in stored precision", "bf16": bf16,
                "fast": fast, "auto": ComputePrecision.fastestAccurate.rawValue]
    }

    static func percentile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
    }

    /// A `/proc/self/status` memory line (VmRSS, VmHWM) in MB.
    static func memoryMB(_ key: String) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}

/// Streams and scratch per worker thread. Worker w touches only `groups[w]` and `scratches[w]`, so sharing the set
/// across the workers of one `concurrentPerform` is safe.
private struct WorkerSet: @unchecked Sendable {
    let groups: [[EncoderStream]]
    let scratches: [EncoderScratch]
}
