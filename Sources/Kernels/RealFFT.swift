#if canImport(Glibc)
import Glibc
#endif

/// A real-input discrete Fourier transform of a fixed length, in double precision: radix 2 for a power of two
/// (Gemma 4's 512), mixed radix for any other length whose prime factors are 2, 3 and 5 (Whisper's 400).
///
/// `magnitudes(of:)` returns `|X[k]|` for `k = 0 … n/2` of `X[k] = Σ_j x[j]·e^(-2πi·jk/n)`, the same quantity as
/// NumPy's `abs(rfft(x, n))`. Double precision keeps the transform's own rounding (≈1e-16 relative) far below the
/// float32 noise of the reference it is compared with.
public struct RealFFT: Sendable {
    public let length: Int
    private let log2Length: Int
    private let cosines: [Double]      // (length,) cos(2πk/n)
    private let sines: [Double]        // (length,) sin(2πk/n)
    private let bitReversed: [Int]     // (length,)

    /// The prime factors of a non-power-of-two length, smallest first (empty for a power of two).
    private let radices: [Int]

    public init(length: Int) {
        precondition(length >= 2, "FFT length must be at least 2, got \(length)")
        var rest = length, factors: [Int] = []
        for p in [2, 3, 5] { while rest % p == 0 { factors.append(p); rest /= p } }
        precondition(rest == 1, "FFT length must have no prime factor above 5, got \(length)")
        radices = length & (length - 1) == 0 ? [] : factors
        self.length = length
        var bits = 0
        while 1 << bits < length { bits += 1 }
        log2Length = bits
        // A full turn of twiddles (the mixed-radix path reads all of it; radix 2 only the first half).
        cosines = (0..<length).map { cos(2 * Double.pi * Double($0) / Double(length)) }
        sines = (0..<length).map { sin(2 * Double.pi * Double($0) / Double(length)) }
        bitReversed = (0..<length).map { index in
            var reversed = 0
            for bit in 0..<bits where index & (1 << bit) != 0 { reversed |= 1 << (bits - 1 - bit) }
            return reversed
        }
    }

    /// Writes `|X[k]|`, `k = 0 … length/2`, for `input` zero-padded at the end to `length`.
    ///
    /// - Parameters:
    ///   - input: up to `length` real samples.
    ///   - real, imaginary: `(length,)` work space.
    ///   - magnitudes: `(length/2 + 1,)` output.
    public func magnitudes(of input: UnsafeBufferPointer<Float>,
                           real: UnsafeMutablePointer<Double>, imaginary: UnsafeMutablePointer<Double>,
                           into magnitudes: UnsafeMutablePointer<Double>) {
        precondition(input.count <= length)
        if !radices.isEmpty {
            mixedRadix(input, real: real, imaginary: imaginary)
            for k in 0...length / 2 {
                magnitudes[k] = (real[k] * real[k] + imaginary[k] * imaginary[k]).squareRoot()
            }
            return
        }
        for j in 0..<length {
            let source = bitReversed[j]
            real[j] = source < input.count ? Double(input[source]) : 0
            imaginary[j] = 0
        }
        // Iterative radix-2 decimation in time.
        var half = 1
        while half < length {
            let twiddleStride = length / (2 * half)
            var start = 0
            while start < length {
                for k in 0..<half {
                    let wr = cosines[k * twiddleStride], wi = -sines[k * twiddleStride]
                    let a = start + k, b = a + half
                    let tr = real[b] * wr - imaginary[b] * wi
                    let ti = real[b] * wi + imaginary[b] * wr
                    real[b] = real[a] - tr; imaginary[b] = imaginary[a] - ti
                    real[a] += tr; imaginary[a] += ti
                }
                start += 2 * half
            }
            half *= 2
        }
        for k in 0...length / 2 {
            magnitudes[k] = (real[k] * real[k] + imaginary[k] * imaginary[k]).squareRoot()
        }
    }

    /// Mixed-radix decimation in time: the input in digit-reversed order (the radices read least significant
    /// first), then one pass per radix from the smallest transforms up, each butterfly a direct p-point DFT of
    /// twiddled inputs, in place.
    private func mixedRadix(_ input: UnsafeBufferPointer<Float>, real: UnsafeMutablePointer<Double>,
                            imaginary: UnsafeMutablePointer<Double>) {
        // Input i = d1 + p1·(d2 + p2·(d3 + …)) sits at d1·(n/p1) + d2·(n/(p1·p2)) + …: the recursive split by
        // residues (x[r + p1·j] is the r-th sub-sequence), laid out flat.
        for i in 0..<length {
            var position = 0, rest = i, scale = length
            for p in radices {
                scale /= p
                position += (rest % p) * scale
                rest /= p
            }
            real[position] = i < input.count ? Double(input[i]) : 0
            imaginary[position] = 0
        }
        var size = 1                       // the length of the transforms already done
        // One butterfly's twiddled inputs (p ≤ 5).
        let tr = UnsafeMutablePointer<Double>.allocate(capacity: 10), ti = tr + 5
        defer { tr.deallocate() }
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                for p in radices.reversed() {
                    let span = size * p
                    let twiddleStride = length / span, rootStride = length / p
                    var start = 0
                    while start < length {
                        for k in 0..<size {
                            // Inputs r = 0…p−1 of butterfly k: element start + k + r·size, times
                            // W_span^(r·k) (r·k·twiddleStride < n: no reduction needed).
                            for r in 0..<p {
                                let at = start + k + r * size
                                let w = r * k * twiddleStride
                                let (c, s) = (cosines[w], -sines[w])
                                tr[r] = real[at] * c - imaginary[at] * s
                                ti[r] = real[at] * s + imaginary[at] * c
                            }
                            // Output q = Σ_r input_r · W_p^(r·q), written to start + k + q·size.
                            for q in 0..<p {
                                var (sr, si) = (tr[0], ti[0])
                                var w = 0
                                for r in 1..<p {
                                    w += q * rootStride
                                    if w >= length { w -= length }
                                    let (c, s) = (cosines[w], -sines[w])
                                    sr += tr[r] * c - ti[r] * s
                                    si += tr[r] * s + ti[r] * c
                                }
                                real[start + k + q * size] = sr
                                imaginary[start + k + q * size] = si
                            }
                        }
                        start += span
                    }
                    size = span
                }
            }
        }
    }
}
