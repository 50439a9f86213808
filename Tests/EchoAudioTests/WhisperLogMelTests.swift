import EchoAudio
import Frontend
import Testing

/// Earshot's Whisper log-mel against transformers' `WhisperFeatureExtractor` (its torch path, float32), window by
/// window, on the fixture cases (speech; speech then digital silence, one window all zeros).
@Suite struct WhisperLogMelTests {
    @Test(arguments: EchoFixtures.cases)
    func matchesWhisperFeatureExtractor(case caseName: String) throws {
        let model = try EchoFixtures.model("base")
        let c = model.configuration.frontend
        let audio = try EchoFixtures.audio(caseName)
        let expected = try EchoFixtures.npy("\(caseName)/mel.npy")      // [windows, mels, frames]
        #expect(expected.shape == [(audio.count + c.windowSamples - 1) / c.windowSamples, c.melBins, c.windowFrames])
        let frames = c.windowFrames * c.melBins
        var out = [Float](repeating: 0, count: frames)
        var scratch = [Float](repeating: 0, count: model.frontend.scratchCount)
        for window in 0..<expected.shape[0] {
            let piece = audio[(window * c.windowSamples)..<min(audio.count, (window + 1) * c.windowSamples)]
            Array(piece).withUnsafeBufferPointer { model.frontend.logMel($0, into: &out, scratch: &scratch) }
            let reference = transposed(expected.values[(window * frames)..<((window + 1) * frames)],
                                       rows: c.melBins, columns: c.windowFrames)
            let difference = maxAbsDifference(out[...], reference[...])
            #expect(difference <= 2e-5, "\(caseName) window \(window): max abs \(difference)")
        }
    }

    /// The seed's frontend values: WhisperFeatureExtractor(feature_size=128, hop_length=160, chunk_length=15)
    /// cut into ctx = 1500-frame windows is 240 000 samples, 15 s.
    @Test func seedWindowIsFifteenSeconds() {
        let c = EchoConfiguration.seed.frontend
        #expect(c.melBins == 128 && c.hopLength == 160 && c.fftLength == 400 && c.sampleRate == 16_000)
        #expect(c.windowSamples == 15 * 16_000)
        #expect(c.windowFrames == 1500)
    }

    /// Slaney filters as transformers' `mel_filter_bank(201, 16, 0, 8000, 16000, norm="slaney",
    /// mel_scale="slaney")` builds them: a few weights printed by numpy (float64).
    @Test func slaneyFilterBankMatchesTransformers() {
        let bank = MelFilterBank(frequencyBins: 201, melBins: 16, sampleRate: 16_000, minFrequency: 0,
                                 maxFrequency: 8_000, style: .slaneyAreaNormalized)
        for (bin, filter, value) in SlaneyReference.weights {
            #expect(abs(bank.weights[bin * 16 + filter] - value) <= 1e-15 * max(1, abs(value)),
                    "bin \(bin) filter \(filter)")
        }
    }
}
