#if canImport(Glibc)
import Glibc
#endif

/// A real-input discrete Fourier transform of a fixed power-of-two length, in double precision.
///
/// `magnitudes(of:)` returns `|X[k]|` for `k = 0 … n/2` of `X[k] = Σ_j x[j]·e^(-2πi·jk/n)`, the same quantity as
/// NumPy's `abs(rfft(x, n))`. Double precision keeps the transform's own rounding (≈1e-16 relative) far below the
/// float32 noise of the reference it is compared with.
public struct RealFFT: Sendable {
    public let length: Int
    private let log2Length: Int
    private let cosines: [Double]      // (length/2,) cos(2πk/n)
    private let sines: [Double]        // (length/2,) sin(2πk/n)
    private let bitReversed: [Int]     // (length,)

    public init(length: Int) {
        precondition(length >= 2 && length & (length - 1) == 0, "FFT length must be a power of two, got \(length)")
        self.length = length
        var bits = 0
        while 1 << bits < length { bits += 1 }
        log2Length = bits
        cosines = (0..<length / 2).map { cos(2 * Double.pi * Double($0) / Double(length)) }
        sines = (0..<length / 2).map { sin(2 * Double.pi * Double($0) / Double(length)) }
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
}
