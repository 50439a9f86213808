import AudioCore
import EchoAudio
import Foundation
import Testing

/// Earshot's Echo encoder against the seed's own classes (tools/reference/echo_seed.py), window by window, on the
/// committed fixtures: the bar is max abs ≤ 1e-4 and per-row cosine ≥ 0.99999.
@Suite struct ReferenceParityTests {
    static let maxAbs: Float = 1e-4
    static let minCosine = 0.99999

    /// The seed's `encoder(x, w)` per window, fed the extractor's own log-mel (so only the encoder is compared).
    @Test(arguments: EchoFixtures.models, EchoFixtures.cases)
    func windowsMatchTheSeed(model name: String, case caseName: String) throws {
        let model = try EchoFixtures.model(name)
        let c = model.configuration
        let scratch = EchoScratch(model: model)
        let mels = try EchoFixtures.npy("\(caseName)/mel.npy")       // [windows, mels, ctx]
        let audio = try EchoFixtures.audio(caseName)
        let windowSamples = c.frontend.windowSamples
        let (t, d) = (c.context, c.width)
        for kind in ["mel", "wave", "fused"] {
            let expected = try EchoFixtures.npy("\(caseName)/\(name).\(kind).npy")   // [windows, ctx, dims]
            #expect(expected.shape == [mels.shape[0], t, d])
            for window in 0..<mels.shape[0] {
                let mel = transposed(mels.values[(window * c.melBins * t)..<((window + 1) * c.melBins * t)],
                                     rows: c.melBins, columns: t)
                var wave = [Float](repeating: 0, count: windowSamples)
                let piece = audio[(window * windowSamples)..<min(audio.count, (window + 1) * windowSamples)]
                wave.replaceSubrange(0..<piece.count, with: piece)
                var out = [Float](repeating: 0, count: t * d)
                try mel.withUnsafeBufferPointer { m in
                    try wave.withUnsafeBufferPointer { w in
                        try model.encode(mel: kind == "wave" ? nil : m.baseAddress!, waveform: kind == "mel" ? nil : w,
                                         scratch: scratch, into: &out)
                    }
                }
                let reference = expected.values[(window * t * d)..<((window + 1) * t * d)]
                let difference = maxAbsDifference(out[...], reference)
                let cosine = minRowCosine(out[...], reference, width: d)
                #expect(difference <= Self.maxAbs,
                        "\(name) \(caseName) \(kind) window \(window): max abs \(difference)")
                #expect(cosine >= Self.minCosine, "\(name) \(caseName) \(kind) window \(window): cosine \(cosine)")
            }
        }
    }

    /// A waveform of 5003 samples alone: AdaptiveAvgPool1d's uneven windows over any length.
    @Test(arguments: EchoFixtures.models)
    func anyWaveformLengthMatchesTheSeed(model name: String) throws {
        let model = try EchoFixtures.model(name)
        let (t, d) = (model.configuration.context, model.configuration.width)
        let wave = try EchoFixtures.npy("oddwave.wave.npy").values
        let expected = try EchoFixtures.npy("oddwave.\(name).npy")
        var out = [Float](repeating: 0, count: t * d)
        try wave.withUnsafeBufferPointer {
            try model.encode(mel: nil, waveform: $0, scratch: EchoScratch(model: model), into: &out)
        }
        #expect(maxAbsDifference(out[...], expected.values[...]) <= Self.maxAbs)
        #expect(minRowCosine(out[...], expected.values[...], width: d) >= Self.minCosine)
    }

    /// The whole road from audio: Earshot's own log-mel of each window, its padding of the last one, through
    /// `EchoWindowStream` fed in uneven pieces, against the seed's fused outputs.
    @Test(arguments: EchoFixtures.models, EchoFixtures.cases)
    func streamedAudioMatchesTheSeed(model name: String, case caseName: String) throws {
        let model = try EchoFixtures.model(name)
        let d = model.configuration.width
        let audio = try EchoFixtures.audio(caseName)
        let expected = try EchoFixtures.npy("\(caseName)/\(name).fused.npy")
        let stream = EchoWindowStream(model: model, inputs: .fused)
        let scratch = EchoScratch(model: model)
        var rows: [Float] = []
        audio.withUnsafeBufferPointer { all in
            var offset = 0, size = 1
            while offset < all.count {
                let end = min(all.count, offset + size)
                stream.accept(UnsafeBufferPointer(rebasing: all[offset..<end]), scratch: scratch, into: &rows)
                offset = end
                size = size * 3 + 7
            }
        }
        stream.finish(scratch: scratch, into: &rows)
        #expect(rows.count == expected.values.count)
        #expect(maxAbsDifference(rows[...], expected.values[...]) <= Self.maxAbs)
        #expect(minRowCosine(rows[...], expected.values[...], width: d) >= Self.minCosine)
    }

    /// The seed's own Dimensions (mels 128, ctx 1500, dims 512, 4 heads, 4 layers), opt-in: 140 MB of checkpoints
    /// and 50 MB of outputs are not committed. Make them with `make_echo_fixtures.py --full DIR`, then run with
    /// `EARSHOT_ECHO_FULL=DIR`. Every input kind, both models, both cases, from the WAV (Earshot's log-mel).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["EARSHOT_ECHO_FULL"] != nil),
          arguments: EchoFixtures.models)
    func seedDimensionsMatchTheSeed(model name: String) throws {
        let root = ProcessInfo.processInfo.environment["EARSHOT_ECHO_FULL"] ?? ""
        let model = try EchoModel.load(path: "\(root)/\(name)")
        let (c, seed) = (model.configuration, EchoConfiguration.seed)
        #expect(c.melBins == seed.melBins && c.context == seed.context && c.width == seed.width
                && c.headCount == seed.headCount && c.layerCount == seed.layerCount)
        let scratch = EchoScratch(model: model, threads: 2)
        for caseName in EchoFixtures.cases {
            let audio = try WAV.read(path: "\(root)/\(caseName)/input.wav").samples
            for (inputs, kind) in [(EchoInputs.mel, "mel"), (.waveform, "wave"), (.fused, "fused")] {
                let expected = try NPY.read(path: "\(root)/\(caseName)/\(name).\(kind).npy")
                let stream = EchoWindowStream(model: model, inputs: inputs)
                var rows: [Float] = []
                audio.withUnsafeBufferPointer { stream.accept($0, scratch: scratch, into: &rows) }
                stream.finish(scratch: scratch, into: &rows)
                let difference = maxAbsDifference(rows[...], expected.values[...])
                #expect(difference <= Self.maxAbs, "\(name) \(caseName) \(kind): max abs \(difference)")
                #expect(minRowCosine(rows[...], expected.values[...], width: 512) >= Self.minCosine)
            }
        }
    }
}
