import Gemma4Audio
import Kernels
import Testing

/// Why bf16 cannot run here, or nil when it can (oneDNN multiplies bf16 natively: AVX-512 BF16 or AMX).
let bf16Unavailable: String? = {
    do {
        try ComputePrecision.bf16.checkAvailable()
        return nil
    } catch {
        print("[bf16] skipped on this CPU: \(error)")
        return "\(error)"
    }
}()

/// The bf16 precision (oneDNN) against the exact f32 path; skipped, with the reason printed, on CPUs without
/// native bf16.
@Suite(.enabled(if: bf16Unavailable == nil, "bf16 needs native bf16 in oneDNN (AVX-512 BF16 or AMX)"))
struct PrecisionTests {
    static func cosines(_ a: [Float], _ b: [Float], width: Int) -> [Double] {
        stride(from: 0, to: a.count, by: width).map { start in
            var dot = 0.0, na = 0.0, nb = 0.0
            for i in start..<start + width {
                dot += Double(a[i]) * Double(b[i]); na += Double(a[i] * a[i]); nb += Double(b[i] * b[i])
            }
            return dot / (na.squareRoot() * nb.squareRoot())
        }
    }

    @Test("bf16 embeddings stay within cosine 0.9995 of f32 on speech", arguments: ["tiny-f32", "tiny3-f32"])
    func accuracy(modelName: String) throws {
        let exact = try Gemma4AudioModel.load(path: Fixtures.modelPath(modelName), precision: .f32)
        let fast = try Gemma4AudioModel.load(path: Fixtures.modelPath(modelName), precision: .bf16)
        #expect(fast.precision == .bf16)
        let audio = try Fixtures.audio("speech")
        let reference = exact.encode(audio), approximate = fast.encode(audio)
        #expect(approximate.count == reference.count)
        let worst = Self.cosines(reference.embeddings, approximate.embeddings,
                                 width: exact.configuration.textHiddenSize).min() ?? 0
        print("[bf16] \(modelName): worst per-token cosine vs f32 = \(worst)")
        #expect(worst >= 0.99999)   // the documented bar is 0.9995; the split products do far better
    }

    @Test("bf16 streaming equals bf16 offline")
    func streaming() throws {
        let model = try Gemma4AudioModel.load(path: Fixtures.modelPath("tiny-f32"), precision: .bf16)
        let audio = try Fixtures.audio("speech")
        let offline = model.encode(audio)
        for (chunks, block) in [([641], 12), ([997, 13], 5)] {
            let streamed = encodeInChunks(model, audio, chunks: chunks, blockTokens: block)
            let error = maxAbsDifference(streamed.embeddings, offline.embeddings)
            print("[bf16] streaming \(chunks) block \(block): max |Δ| vs offline = \(error)")
            #expect(streamed.embeddings == offline.embeddings)   // oneDNN, too, computes each row the same way
        }
    }
}

/// Asking for bf16 where it cannot run is an error that says why, never a crash.
@Suite struct PrecisionAvailabilityTests {
    @Test("bf16 on a CPU without native bf16 is refused with the reason")
    func refusedWithReason() throws {
        guard let reason = bf16Unavailable else {
            print("[bf16] this CPU runs bf16: the refusal cannot be observed here (ONEDNN_MAX_CPU_ISA=AVX2 shows it)")
            return
        }
        #expect(reason.contains("bf16") && reason.contains("use f32"))
        #expect(throws: ModelError.self) {
            try Gemma4AudioModel.load(path: Fixtures.modelPath("tiny-f32"), precision: .bf16)
        }
        #expect(ComputePrecision.fastestAccurate == .f32)
    }
}

/// The operator-facing settings have one parser and one validator each, with typed errors.
@Suite struct SettingTests {
    @Test func precisionSettingParsesOnlyItsValues() throws {
        #expect(try PrecisionSetting.parse("bf16") == .bf16)
        #expect(try PrecisionSetting.parse("auto").resolved == ComputePrecision.fastestAccurate)
        #expect(throws: ModelError.invalidPrecision("fp16")) { try PrecisionSetting.parse("fp16") }
        #expect("\(ModelError.invalidPrecision("fp16"))" == "precision must be auto, f32, bf16 or fast, not 'fp16'")
    }

    @Test func blockTokensAreOneToTwelve() throws {
        for n in [1, 12] { try Gemma4AudioConfiguration.validate(blockTokens: n) }
        for n in [0, 13] {
            #expect(throws: ModelError.blockTokensOutOfRange(n)) { try Gemma4AudioConfiguration.validate(blockTokens: n) }
        }
        #expect("\(ModelError.blockTokensOutOfRange(13))" == "block-tokens must be 1…12, not 13")
    }
}
