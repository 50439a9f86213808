import Gemma4Audio
import Kernels
import NumberBits
import Testing

/// Why the fast precision cannot run here (no AVX512_BF16, or `EARSHOT_KERNEL_ISA` caps below it), or nil.
let fastUnavailable: String? = {
    do {
        try ComputePrecision.fast.checkAvailable()
        return nil
    } catch {
        print("[fast] skipped on this CPU: \(error)")
        return "\(error)"
    }
}()

/// The fast precision (vdpbf16ps on Earshot's kernels) against the exact f32 path, and exact within itself;
/// skipped, with the reason printed, where AVX512_BF16 is missing.
@Suite(.enabled(if: fastUnavailable == nil, "fast needs AVX512_BF16"))
struct FastPrecisionTests {
    @Test("fast embeddings stay close to f32 on speech", arguments: ["tiny-f32", "tiny3-f32", "tiny-bf16"])
    func accuracy(modelName: String) throws {
        let exact = try Gemma4AudioModel.load(path: Fixtures.modelPath(modelName), precision: .f32)
        let fast = try Gemma4AudioModel.load(path: Fixtures.modelPath(modelName), precision: .fast)
        #expect(fast.precision == .fast)
        let audio = try Fixtures.audio("speech")
        let reference = exact.encode(audio), approximate = fast.encode(audio)
        #expect(approximate.count == reference.count)
        let cosines = PrecisionTests.cosines(reference.embeddings, approximate.embeddings,
                                             width: exact.configuration.textHiddenSize)
        let worst = cosines.min() ?? 0
        let error = maxAbsDifference(reference.embeddings, approximate.embeddings)
        print("[fast] \(modelName): worst per-token cosine vs f32 = \(worst), max |Δ| = \(error)")
        // Measured: tiny-f32 0.99946 and tiny3-f32 0.99989 (f32 weights rounded to bf16: that rounding dominates);
        // tiny-bf16 0.99999999 (bf16 weights are exact, only the inputs' remainders beyond 16 bits round).
        #expect(worst >= (modelName == "tiny-bf16" ? 0.999999 : 0.999))
        #expect(reference.embeddings != approximate.embeddings)   // it did run in bf16
    }

    @Test("fast streaming, in any chunks, blocks and thread counts, equals fast offline bit for bit")
    func streaming() throws {
        let model = try Gemma4AudioModel.load(path: Fixtures.modelPath("tiny3-f32"), precision: .fast)
        let audio = try Fixtures.audio("speech")
        let offline = model.encode(audio)
        var generator = SplitMix64(seed: 21)
        for trial in 0..<4 {
            let chunks = (0..<50).map { _ in Int.random(in: 1...3000, using: &generator) }
            let block = Int.random(in: 1...12, using: &generator)
            let threads = trial + 1
            let streamed = encodeInChunks(model, audio, chunks: chunks, blockTokens: block, threads: threads)
            print("[fast] trial \(trial) block \(block) threads \(threads): max |Δ| vs offline = "
                  + "\(maxAbsDifference(streamed.embeddings, offline.embeddings))")
            #expect(streamed.embeddings == offline.embeddings)
            #expect(streamed.encoder == offline.encoder)
        }
    }

    @Test("several streams in one pass give each stream's own bits")
    func batched() throws {
        let model = try Gemma4AudioModel.load(path: Fixtures.modelPath("tiny-f32"), precision: .fast)
        let audio = try Fixtures.audio("speech")
        let alone = model.encode(audio)
        let offset = Array(audio[3200...])
        let aloneOffset = model.encode(offset)
        let streams = [EncoderStream(model: model, blockTokens: 12), EncoderStream(model: model, blockTokens: 12)]
        let scratch = EncoderScratch(model: model, capacity: 24, threads: 2)
        var outputs = [[Float]](repeating: [], count: 2)
        for (stream, samples) in zip(streams, [audio, offset]) {
            samples.withUnsafeBufferPointer { stream.accept($0) }
            stream.finish()
        }
        model.drain(streams, scratch: scratch) { index, tokens in outputs[index] += tokens.embeddings }
        #expect(outputs[0] == alone.embeddings)
        #expect(outputs[1] == aloneOffset.embeddings)
    }
}

/// Asking for fast where it cannot run is an error that says why.
@Suite struct FastAvailabilityTests {
    @Test("fast without AVX512_BF16 is refused with the reason")
    func refusedWithReason() throws {
        guard let reason = fastUnavailable else {
            print("[fast] this CPU runs fast: the refusal shows under EARSHOT_KERNEL_ISA=avx512 (or avx2, portable)")
            #expect("\(ModelError.fastUnavailable(instructionSet: "avx2"))"
                    == "precision fast needs a CPU with AVX512_BF16 (vdpbf16ps); Earshot's kernels run avx2 here: use f32")
            return
        }
        #expect(reason.contains("AVX512_BF16") && reason.contains("use f32"))
        #expect(throws: ModelError.self) {
            try Gemma4AudioModel.load(path: Fixtures.modelPath("tiny-f32"), precision: .fast)
        }
        #expect(ComputePrecision.fastestAccurate != .fast)
    }
}
