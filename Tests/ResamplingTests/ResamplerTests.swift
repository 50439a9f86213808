import Foundation
import NumberBits
import Testing
@testable import Resampling

/// A repeatable pseudo-random signal in [-0.9, 0.9).
func noise(count: Int, seed: UInt64) -> [Float] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float(Double(generator.next() >> 11) / Double(1 << 53) * 1.8 - 0.9) }
}

/// Feeds `input` in chunks of the given sizes (cycled), then finishes.
func resampleChunked(_ input: [Float], from: Int, to: Int, quality: ResamplerQuality, chunks: [Int]) throws -> [Float] {
    let resampler = try Resampler(inputRate: from, outputRate: to, quality: quality)
    var output: [Float] = []
    var start = 0, i = 0
    try input.withUnsafeBufferPointer { all in
        while start < all.count {
            let n = min(chunks[i % chunks.count], all.count - start)
            try resampler.process(UnsafeBufferPointer(rebasing: all[start..<(start + n)]), into: &output)
            start += n
            i += 1
        }
    }
    try resampler.finish(into: &output)
    return output
}

@Suite struct ResamplerTests {
    @Test func equalRatesPassThroughUntouched() throws {
        let input = noise(count: 1000, seed: 1)
        let resampler = try Resampler(inputRate: 16000, outputRate: 16000)
        #expect(resampler.isPassthrough)
        var output: [Float] = []
        try resampler.process(input, into: &output)
        #expect(resampler.pendingOutputFrames == 0)
        try resampler.finish(into: &output)
        #expect(output == input)
        #expect(try Resampler.resample(input, from: 16000, to: 16000) == input)
    }

    /// 1 kHz at 48 kHz → 16 kHz: frequency, amplitude and phase of a least-squares sine fit, SNR ≥ 80 dB
    /// away from the edges. The phase check proves that output frame k sits at input time 3k (no offset).
    @Test(arguments: [ResamplerQuality.best, .medium, .fastest])
    func sineKeepsFrequencyAmplitudeAndPhase(quality: ResamplerQuality) throws {
        let inRate = 48000.0, f = 1000.0, amplitude = 0.5, phase0 = 0.3
        let input = (0..<96000).map { Float(amplitude * sin(2 * .pi * f * Double($0) / inRate + phase0)) }
        let output = try Resampler.resample(input, from: 48000, to: 16000, quality: quality)
        #expect(output.count == 32000)
        let fit = SineFit(output, rate: 16000, range: 1600..<30400, near: 1000.5)
        #expect(abs(fit.frequency - f) < 0.001, "frequency \(fit.frequency)")
        #expect(abs(fit.amplitude - amplitude) < 1e-4, "amplitude \(fit.amplitude)")
        #expect(abs(fit.phase - phase0) < 1e-4, "phase \(fit.phase) (a timeline offset shows up here)")
        #expect(abs(fit.offset) < 1e-5)
        #expect(fit.snr >= 80, "SNR \(fit.snr) dB")
    }

    @Test func sineFrom44100() throws {
        let input = (0..<88200).map { Float(0.25 * sin(2 * .pi * 1000 * Double($0) / 44100)) }
        let output = try Resampler.resample(input, from: 44100, to: 16000)
        #expect(output.count == 32000)
        let fit = SineFit(output, rate: 16000, range: 1600..<30400, near: 999.5)
        #expect(abs(fit.frequency - 1000) < 0.001)
        #expect(abs(fit.amplitude - 0.25) < 1e-4)
        #expect(abs(fit.phase) < 1e-4)
        #expect(fit.snr >= 80, "SNR \(fit.snr) dB")
    }

    /// Any split of the input gives the same output, bit for bit.
    @Test(arguments: ResamplerQuality.allCases)
    func outputDoesNotDependOnChunking(quality: ResamplerQuality) throws {
        let input = noise(count: 24000, seed: 7)
        let whole = try Resampler.resample(input, from: 48000, to: 16000, quality: quality)
        for chunks in [[1], [7], [160], [480], [4097], [3, 1000, 1, 250, 9999]] {
            let split = try resampleChunked(input, from: 48000, to: 16000, quality: quality, chunks: chunks)
            #expect(split.count == whole.count, "chunks \(chunks)")
            let worst = zip(split, whole).map { abs($0 - $1) }.max() ?? 0
            let identical = split == whole
            #expect(identical, "chunks \(chunks): worst difference \(worst)")
        }
        // Upsampling and an awkward ratio too.
        let up = try Resampler.resample(input, from: 8000, to: 16000, quality: quality)
        let upSplit = try resampleChunked(input, from: 8000, to: 16000, quality: quality, chunks: [13, 1])
        #expect(upSplit.count == up.count && upSplit == up)
        let odd = try Resampler.resample(input, from: 44100, to: 16000, quality: quality)
        let oddSplit = try resampleChunked(input, from: 44100, to: 16000, quality: quality, chunks: [441, 1])
        #expect(oddSplit.count == odd.count && oddSplit == odd)
    }

    /// The counters: every input frame is counted at once, outputs trail by `pendingOutputFrames`, and `finish`
    /// delivers exactly those.
    @Test(arguments: [(48000, 16000, 1), (44100, 16000, 0), (8000, 16000, 0), (22050, 16000, 7), (48000, 16000, 2)])
    func delayAccounting(rates: (Int, Int, Int)) throws {
        let resampler = try Resampler(inputRate: rates.0, outputRate: rates.1)
        let input = noise(count: rates.0 / 10 + rates.2, seed: 3)
        var output: [Float] = []
        try resampler.process(input, into: &output)
        #expect(resampler.inputFramesConsumed == Int64(input.count))
        #expect(resampler.outputFramesProduced == Int64(output.count))
        let pending = resampler.pendingOutputFrames
        #expect(pending > 0, "a sinc filter has latency")
        let before = output.count
        try resampler.finish(into: &output)
        #expect(Int64(output.count - before) == pending)
        #expect(resampler.pendingOutputFrames == 0)
        #expect(output.count == input.count * rates.1 / rates.0)   // floor
        #expect(resampler.outputPosition(ofInputFrame: Int64(rates.0)) == Double(rates.1))
        #expect(resampler.inputPosition(ofOutputFrame: Int64(rates.1)) == Double(rates.0))
    }

    @Test func finishThenResetStartsAfresh() throws {
        let input = noise(count: 4800, seed: 5)
        let resampler = try Resampler(inputRate: 48000, outputRate: 16000, quality: .medium)
        var first: [Float] = []
        try resampler.process(input, into: &first)
        try resampler.finish(into: &first)
        #expect(resampler.isFinished)
        var ignored: [Float] = []
        try resampler.finish(into: &ignored)
        #expect(ignored.isEmpty)
        let error = #expect(throws: ResamplingError.self) { try resampler.process(input, into: &ignored) }
        #expect(error?.description.contains("reset()") == true)
        try resampler.reset()
        #expect(resampler.inputFramesConsumed == 0 && resampler.outputFramesProduced == 0)
        var second: [Float] = []
        try resampler.process(input, into: &second)
        try resampler.finish(into: &second)
        #expect(second == first)
    }

    @Test func invalidRatesThrowReadableErrors() {
        for (from, to) in [(0, 16000), (16000, 0), (-1, 16000), (16000 * 300, 16000)] {
            let error = #expect(throws: ResamplingError.self) { try Resampler(inputRate: from, outputRate: to) }
            #expect(error?.description.contains("cannot convert") == true)
        }
    }

    @Test func libraryErrorsCarrySrcStrerror() {
        let error = #expect(throws: ResamplingError.self) { try ResamplingError.check(7, during: "src_process") }
        #expect(error?.libraryCode == 7)
        #expect(error?.description.hasPrefix("src_process: libsamplerate error 7: ") == true)
    }

    @Test func qualityNames() {
        #expect(ResamplerQuality.best.converterName == "Best Sinc Interpolator")
        #expect(ResamplerQuality(rawValue: "zeroOrderHold") == .zeroOrderHold)
    }
}

@Suite struct DownmixTests {
    @Test func averagesChannels() {
        var out: [Float] = [9]
        [0.5, -0.25, 1, 1].withUnsafeBufferPointer { Downmix.toMono($0, channels: 2, into: &out) }
        #expect(out == [9, 0.125, 1])
        out = []
        [0.3, 0.6, 0.9, 3, 3, 3, 1].withUnsafeBufferPointer { Downmix.toMono($0, channels: 3, into: &out) }
        #expect(out.count == 2)   // the partial trailing frame is ignored
        #expect(abs(out[0] - 0.6) < 1e-7 && abs(out[1] - 3) < 1e-6)
        out = []
        [0.1, 0.2].withUnsafeBufferPointer { Downmix.toMono($0, channels: 1, into: &out) }
        #expect(out == [0.1, 0.2])
    }
}
