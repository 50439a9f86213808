#if canImport(Glibc)
import Glibc
#endif

/// HTK-scale triangular mel filters without area normalisation, as transformers' `mel_filter_bank(…, norm=None,
/// mel_scale="htk")` builds them (spec §2.7): edges equally spaced in mel, triangles drawn in Hz over the FFT bin
/// frequencies, float64 throughout.
public struct MelFilterBank: Sendable {
    /// `(frequencyBins, melBins)`, row-major: `weights[k·melBins + j]` is bin k's weight in filter j.
    public let weights: [Double]
    public let frequencyBins: Int
    public let melBins: Int
    /// For filter j, the bins with a non-zero weight: `support[j].lowerBound ..< support[j].upperBound`.
    /// Summing only these gives the same value as the dense product (the skipped terms are exact zeros).
    public let support: [Range<Int>]

    public init(_ config: LogMelConfiguration) {
        frequencyBins = config.frequencyBins
        melBins = config.melBins
        func hertzToMel(_ f: Double) -> Double { 2595 * log10(1 + f / 700) }
        func melToHertz(_ m: Double) -> Double { 700 * (pow(10, m / 2595) - 1) }
        let edges = MelFilterBank.linspace(hertzToMel(config.minFrequency), hertzToMel(config.maxFrequency),
                                           count: melBins + 2).map(melToHertz)
        let binFrequencies = MelFilterBank.linspace(0, Double(config.sampleRate / 2), count: frequencyBins)
        var weights = [Double](repeating: 0, count: frequencyBins * melBins)
        for k in 0..<frequencyBins {
            let f = binFrequencies[k]
            for j in 0..<melBins {
                let down = (f - edges[j]) / (edges[j + 1] - edges[j])
                let up = (edges[j + 2] - f) / (edges[j + 2] - edges[j + 1])
                weights[k * melBins + j] = max(0, min(down, up))
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
