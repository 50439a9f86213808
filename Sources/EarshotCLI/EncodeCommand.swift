import ArgumentParser
import AudioCore
import EchoAudio
import Frontend
import Gemma4Audio
import Foundation
import Kernels

/// `earshot encode`: an audio file in, Gemma 4 or Echo audio features out as `.npy`.
public struct EncodeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode an audio file into Gemma 4 (or Echo) audio embeddings (.npy).",
        discussion: """
            Reads an audio file — WAV (PCM, float, A-law, µ-law, ADPCM), FLAC, Ogg Vorbis, Opus, MP3, AIFF, W64, \
            RF64, CAF; - for standard input, e.g. `ffmpeg -i talk.m4a -f flac - | earshot encode --input - …` — \
            (any channel count, averaged to mono; any rate, resampled to 16 kHz with libsamplerate's best sinc) \
            and writes float32 little-endian .npy:
              mel         the valid log-mel frames            [frames, 128]
              encoder     the audio tower's output_proj rows  [tokens, output_proj_dims]
              embeddings  the embedder's output (default)     [tokens, D]  — what Gemma 4 feeds its LM
            One token per 40 ms. Audio longer than 30 s is encoded whole (transformers cuts at 30 s), read a piece \
            at a time: memory stays bounded at any file length, but for the result. A file shorter than its header \
            says is refused; MP4/M4A, WebM and video are refused with the command that converts them.
            With --stream, the file is fed through the streaming encoder in --chunk-ms pieces; the output is \
            bit-identical to the offline one. The input is opened and --output's directory checked before the \
            model loads, so a mistyped path fails at once.
            Echo (random:echo, or a directory whose earshot-model.json says {"family": "echo"}) is not causal: \
            the audio is cut into windows of ctx frames (ctx·160 samples, 15 s at ctx 1500), each encoded whole \
            from its Whisper log-mel, its waveform or both (--inputs); the last partial window is zero-padded to a \
            whole one, as WhisperFeatureExtractor pads. Output: [windows·ctx, dims] (encoder and embeddings are \
            the same: Echo has no embedder), or with --stage mel each window's log-mel [windows·ctx, mels]. \
            docs/echo.md.
            """)

    public enum Stage: String, ExpressibleByArgument, CaseIterable, Sendable { case mel, encoder, embeddings }

    @Option(help: "A Hugging Face Gemma 4 model directory (config.json + safetensors), a llama.cpp mmproj .gguf, an Echo model directory (earshot-model.json, dimensions.json, model.safetensors), or random:e2b / random:e4b / random:echo (random weights: the embeddings mean nothing).")
    var model: String?

    @Option(help: "The audio file to encode (WAV, FLAC, Ogg Vorbis, Opus, MP3, AIFF, …; - for standard input).")
    var input: String

    @Option(help: "Where to write the .npy result.")
    var output: String

    @Option(help: "What to write: mel, encoder or embeddings.")
    var stage: Stage = .embeddings

    @Flag(help: "Encode through the streaming engine, feeding the file in pieces.")
    var stream = false

    @Option(help: "With --stream: milliseconds of audio per piece fed to the encoder.")
    var chunkMs: Double = 40

    @Option(help: "With --stream: tokens per encoder pass (1…12).")
    var blockTokens: Int = 12

    @Option(help: "Threads for the matrix products; default: every online CPU. With --precision f32 the result does not depend on it (nor on --stream, --chunk-ms or --block-tokens): earshotd's tokens are the same bits. With fast, too, it does not depend on any of them; bf16 results are bit-identical at equal thread counts.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "auto: the fastest precision that meets the accuracy bar on this CPU (bf16 where oneDNN runs bf16 on AMX, else f32). f32: exact, Earshot's kernels, weights held as stored, matches transformers to float noise. bf16: oneDNN bf16 GEMMs with split products, per-token cosine ≥ 0.99999 against f32; needs native bf16 (AVX-512 BF16 or AMX). fast: bf16 weights times inputs carried as bf16 high + low parts, by AVX512_BF16's vdpbf16ps on Earshot's kernels, float32 everywhere else; per-token cosine 0.9999998 against transformers f32 at E2B size; needs AVX512_BF16.")
    var precision: PrecisionSetting = .auto

    @Option(help: "Echo only: what each window is encoded from: mel, waveform or fused (both, blended as the seed blends them). Default: the model directory's earshot-model.json \"inputs\", else fused.")
    var inputs: EchoInputs?

    @Flag(help: "With --stream: feed the audio at real-time speed, as a microphone would.")
    var realtime = false

    @Flag(help: "With --stream: print one line per token as it leaves (index, audio time, latency, norm).")
    var view = false

    @Flag(help: "Show progress on standard error even when it is not a terminal (on a terminal it always shows).")
    var progress = false

    public init() {}

    public func validate() throws {
        if stage != .mel && model == nil { throw ValidationError("--model is required for --stage \(stage.rawValue)") }
        do { try Gemma4AudioConfiguration.validate(blockTokens: blockTokens) } catch {
            throw ValidationError("--\(error)")
        }
        guard chunkMs > 0, chunkMs.isFinite else { throw ValidationError("--chunk-ms must be positive") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    public func run() throws {
        if let model, EchoModel.isEchoModel(path: model),
           let reason = EchoEncoding.refusal(stream: stream, precision: precision) {
            throw ValidationError(reason)
        }
        if inputs != nil && !(model.map(EchoModel.isEchoModel) ?? false) {
            throw ValidationError("--inputs applies to Echo models only")
        }
        OneDNNEngine.setThreadCount(threads)
        var streaming: Encoding.Streaming?
        if stream {
            streaming = .init(chunkSamples: max(1, Int(chunkMs * 16)), blockTokens: blockTokens)
            streaming?.realtime = realtime
            if view { streaming?.onTokens = TokenView.print }
        }
        let settings = streaming
        // Before the model loads (seconds for a real one): a result that could not be written fails now.
        try CommandLineErrors.reporting { try OutputPath.checkWritable(output) }
        let display = ProgressLine(forced: progress)
        var report = Encoding.Report()
        let result = try CommandLineErrors.reporting {
            try Encoding.run(modelPath: model, inputPath: input, stage: stage, streaming: settings,
                             precision: precision.resolved, threads: threads, echoInputs: inputs, progress: display,
                             report: &report)
        }
        try CommandLineErrors.reporting { try NPY.write(result, path: output) }
        printError(report.summary(rows: result.shape.first ?? 0, stage: stage))
    }
}

/// The work behind `earshot encode`, callable from tests.
public enum Encoding {
    public struct Streaming: Sendable {
        public var chunkSamples: Int
        public var blockTokens: Int
        /// Sleep between pieces so that audio arrives at real-time speed.
        public var realtime = false
        /// Called with each batch of tokens as it leaves, and the samples fed so far.
        public var onTokens: (@Sendable (EncodedTokens, _ samplesFed: Int) -> Void)?
        public init(chunkSamples: Int, blockTokens: Int) {
            self.chunkSamples = chunkSamples
            self.blockTokens = blockTokens
        }
    }

    /// What a run measured, for `earshot encode`'s closing line.
    public struct Report: Sendable {
        /// Samples read, at 16 kHz after resampling.
        public var samples = 0
        public var loadSeconds = 0.0
        /// From the first piece read to the last row out (model loading excluded).
        public var encodeSeconds = 0.0
        public init() {}

        /// `earshot encode: 75 tokens from 3.00 s of audio in 0.12 s (RTF 0.040; model loaded in 0.05 s)`.
        public func summary(rows: Int, stage: EncodeCommand.Stage) -> String {
            let audio = Double(samples) / 16_000
            let what = stage == .mel ? "mel frames" : "tokens"
            var notes: [String] = []
            if audio > 0 { notes.append(String(format: "RTF %.3f", encodeSeconds / audio)) }
            if stage != .mel { notes.append(String(format: "model loaded in %.2f s", loadSeconds)) }
            var line = String(format: "earshot encode: %d %@ from %.2f s of audio in %.2f s", rows, what, audio,
                              encodeSeconds)
            if !notes.isEmpty { line += " (" + notes.joined(separator: "; ") + ")" }
            return line
        }
    }

    /// Encodes the audio file at `inputPath` (`-`: standard input) as it is read (``Mono16kReader``): memory stays
    /// bounded at any file length, but for the result itself. The file is opened (and its header read) before the
    /// model loads.
    public static func run(modelPath: String?, inputPath: String, stage: EncodeCommand.Stage,
                           streaming: Streaming?, precision: ComputePrecision = .f32,
                           threads: Int = 1, echoInputs: EchoInputs? = nil) throws -> FloatArray {
        var report = Report()
        return try run(modelPath: modelPath, inputPath: inputPath, stage: stage, streaming: streaming,
                       precision: precision, threads: threads, echoInputs: echoInputs, progress: nil,
                       report: &report)
    }

    /// ``run(modelPath:inputPath:stage:streaming:precision:threads:)``, where `progress` shows loading and the share of
    /// the file encoded, and `report` receives the sample count and the times.
    static func run(modelPath: String?, inputPath: String, stage: EncodeCommand.Stage, streaming: Streaming?,
                    precision: ComputePrecision, threads: Int, echoInputs: EchoInputs? = nil,
                    progress: ProgressLine?, report: inout Report) throws -> FloatArray {
        let audio = try Mono16kReader(path: inputPath)
        // nil when the file does not say how long it is (standard input, some compressed streams).
        let totalSeconds = audio.info.frameCount.map { Double($0) / Double(max(1, audio.info.sampleRate)) }
        var samples = 0
        var started = ContinuousClock.now
        // Every piece passes here: the sample count, and the share of the file read so far (the encoder keeps up).
        // The first and the last update always show; those between at the display's pace.
        func next() throws -> [Float]? {
            let piece = try audio.next()
            let first = samples == 0
            samples += piece?.count ?? 0
            if let progress, progress.isEnabled {
                let seconds = Double(samples) / 16_000
                let line = totalSeconds.map {
                    String(format: "encoding %@: %3.0f%% (%.1f of %.1f s of audio)", inputPath,
                           min(100, 100 * seconds / max($0, 1e-9)), seconds, $0)
                } ?? String(format: "encoding %@: %.1f s of audio", inputPath, seconds)
                progress.show(line, force: first || piece == nil)
            }
            return piece
        }
        defer {
            progress?.clear()
            report.samples = samples
            report.encodeSeconds = seconds(since: started)
        }
        if let modelPath, EchoModel.isEchoModel(path: modelPath) {
            if let reason = EchoEncoding.refusal(stream: streaming != nil, precision: .f32) {
                throw EchoError.unsupportedSetting(reason)
            }
            let loadStart = started
            return try EchoEncoding.run(modelPath: modelPath, stage: stage, inputs: echoInputs, threads: threads,
                                        progress: progress, next: next) { now in
                report.loadSeconds = seconds(since: loadStart)
                started = now
            }
        }
        if stage == .mel {
            var frontend = LogMelFrontend()
            var frames: [Float] = []
            while let piece = try next() {
                piece.withUnsafeBufferPointer { _ = frontend.accept($0, into: &frames) }
            }
            return FloatArray(shape: [frames.count / 128, 128], values: frames)
        }
        progress?.show("loading \(modelPath ?? "")…", force: true)
        let model = try Gemma4AudioModel.load(path: modelPath ?? "", precision: precision)
        report.loadSeconds = seconds(since: started)
        started = ContinuousClock.now
        let tokens: EncodedTokens
        if let streaming {
            tokens = try encodeStreaming(model: model, pieces: next, streaming, threads: threads)
        } else {
            tokens = try model.encode(scratch: EncoderScratch(model: model,
                                                              capacity: Gemma4AudioModel.offlinePassTokens,
                                                              threads: threads),
                                      pieces: next)
        }
        let c = model.configuration
        return stage == .encoder
            ? FloatArray(shape: [tokens.count, c.outputProjectionSize], values: tokens.encoder)
            : FloatArray(shape: [tokens.count, c.textHiddenSize], values: tokens.embeddings)
    }

    /// Feeds the audio `nextPiece` delivers (`nil` after the last) through one `EncoderStream` in `chunkSamples`
    /// pieces, encoding blocks as they fill.
    public static func encodeStreaming(model: Gemma4AudioModel, pieces nextPiece: () throws -> [Float]?,
                                       _ s: Streaming, threads: Int = 1) throws -> EncodedTokens {
        let stream = EncoderStream(model: model, blockTokens: s.blockTokens)
        let scratch = EncoderScratch(model: model, capacity: s.blockTokens, threads: threads)
        var result = EncodedTokens(firstToken: 0, encoderWidth: model.configuration.outputProjectionSize,
                                   embeddingWidth: model.configuration.textHiddenSize)
        let start = ContinuousClock.now
        var fed = 0
        func feed(_ chunk: UnsafeBufferPointer<Float>) {
            let end = fed + chunk.count
            if s.realtime {   // the chunk is "captured" once its last sample's time has come
                let due = start + .microseconds(Int64(end) * 1_000_000 / 16_000)
                let wait = due - ContinuousClock.now
                if wait > .zero { Thread.sleep(forTimeInterval: Double(wait.components.attoseconds) / 1e18
                                                 + Double(wait.components.seconds)) }
            }
            stream.accept(chunk)
            fed = end
            collect()
        }
        func collect() {
            model.drain([stream], scratch: scratch) { _, tokens in
                s.onTokens?(tokens, fed)
                result.append(tokens)
            }
        }
        // Chunks of exactly `chunkSamples`, whatever the pieces: `pending` holds a chunk's start across pieces.
        var pending: [Float] = []
        while let piece = try nextPiece() {
            pending += piece
            let whole = pending.count - pending.count % s.chunkSamples
            pending.withUnsafeBufferPointer { all in
                for offset in stride(from: 0, to: whole, by: s.chunkSamples) {
                    feed(UnsafeBufferPointer(rebasing: all[offset..<offset + s.chunkSamples]))
                }
            }
            pending.removeFirst(whole)
        }
        pending.withUnsafeBufferPointer { if !$0.isEmpty { feed($0) } }
        stream.finish()
        collect()
        return result
    }
}

/// The `--view` lines: one per token as it leaves the encoder.
enum TokenView {
    @Sendable static func print(_ tokens: EncodedTokens, samplesFed: Int) {
        let width = tokens.embeddingWidth
        for i in 0..<tokens.count {
            let t = tokens.firstToken + i
            var norm = 0.0
            for j in 0..<width { norm += Double(tokens.embeddings[i * width + j] * tokens.embeddings[i * width + j]) }
            // The token's audio ends at sample 640(t+1); it left when `samplesFed` samples had arrived.
            let audioEnd = Double(640 * (t + 1)) / 16_000
            let wait = Double(samplesFed - 640 * (t + 1)) / 16
            Swift.print(String(format: "token %5d  audio %7.2f s  waited %6.1f ms of audio  |e| %8.3f",
                               t, audioEnd, wait, norm.squareRoot()))
        }
        fflush(nil)   // all C streams: Swift 6 rejects the `stdout` global
    }
}

private func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
