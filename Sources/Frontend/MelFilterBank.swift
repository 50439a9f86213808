#if canImport(Glibc)
import Glibc
#endif

/// Triangular mel filters as transformers' `mel_filter_bank` builds them: edges equally spaced in mel, triangles
/// drawn in Hz over the FFT bin frequencies `linspace(0, sampleRate / 2, bins)`, float64 throughout. Two styles:
/// Gemma 4's (spec §2.7: `norm=None, mel_scale="htk"`) and Whisper's (`norm="slaney", mel_scale="slaney"`).
public struct MelFilterBank: Sendable {
    /// How the mel scale is drawn and whether each triangle is scaled.
    public enum Style: Sendable, Equatable {
        /// HTK mel (`2595·log10(1 + f/700)`), triangles of peak 1.
        case htk
        /// Slaney's mel (linear below 1 kHz, logarithmic above), each triangle scaled by `2 / (its width in Hz)`
        /// so that every filter has about the same area: Whisper's.
        case slaneyAreaNormalized
    }

    /// `(frequencyBins, melBins)`, row-major: `weights[k·melBins + j]` is bin k's weight in filter j.
    public let weights: [Double]
    public let frequencyBins: Int
    public let melBins: Int
    /// For filter j, the bins with a non-zero weight: `support[j].lowerBound ..< support[j].upperBound`.
    /// Summing only these gives the same value as the dense product (the skipped terms are exact zeros).
    public let support: [Range<Int>]

    /// Gemma 4's filters (HTK, unnormalised) for `config`.
    public init(_ config: LogMelConfiguration) {
        self.init(frequencyBins: config.frequencyBins, melBins: config.melBins, sampleRate: config.sampleRate,
                  minFrequency: config.minFrequency, maxFrequency: config.maxFrequency, style: .htk)
    }

    public init(frequencyBins: Int, melBins: Int, sampleRate: Int, minFrequency: Double, maxFrequency: Double,
                style: Style) {
        self.frequencyBins = frequencyBins
        self.melBins = melBins
        let edges = MelFilterBank.linspace(style.mel(minFrequency), style.mel(maxFrequency), count: melBins + 2)
            .map(style.hertz)
        let binFrequencies = MelFilterBank.linspace(0, Double(sampleRate / 2), count: frequencyBins)
        var weights = [Double](repeating: 0, count: frequencyBins * melBins)
        for k in 0..<frequencyBins {
            let f = binFrequencies[k]
            for j in 0..<melBins {
                let down = (f - edges[j]) / (edges[j + 1] - edges[j])
                let up = (edges[j + 2] - f) / (edges[j + 2] - edges[j + 1])
                weights[k * melBins + j] = max(0, min(down, up))
            }
        }
        if style == .slaneyAreaNormalized {
            for j in 0..<melBins {
                let scale = 2 / (edges[j + 2] - edges[j])
                for k in 0..<frequencyBins { weights[k * melBins + j] *= scale }
            }
        }
        self.weights = weights
        let (bins, filters) = (frequencyBins, melBins)
        support = (0..<filters).map { j in
            let nonZero = (0..<bins).filter { weights[$0 * filters + j] != 0 }
            guard let first = nonZero.first, let last = nonZero.last else { return 0..<0 }
            return first..<(last + 1)
        }
    }

    /// NumPy's `linspace(start, stop, count)`: `start + i·step`, with the last point exactly `stop`.
    static func linspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { start + Double($0) * step }
        values[count - 1] = stop
        return values
    }
}

extension MelFilterBank.Style {
    /// transformers' `hertz_to_mel`.
    func mel(_ hertz: Double) -> Double {
        switch self {
        case .htk: return 2595 * log10(1 + hertz / 700)
        case .slaneyAreaNormalized:
            return hertz >= 1000 ? 15 + log(hertz / 1000) * (27 / log(6.4)) : 3 * hertz / 200
        }
    }

    /// transformers' `mel_to_hertz`.
    func hertz(_ mel: Double) -> Double {
        switch self {
        case .htk: return 700 * (pow(10, mel / 2595) - 1)
        case .slaneyAreaNormalized:
            return mel >= 15 ? 1000 * exp(log(6.4) / 27 * (mel - 15)) : 200 * mel / 3
        }
    }
}
