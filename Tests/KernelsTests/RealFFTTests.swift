#if canImport(Glibc)
import Glibc
#endif
import Kernels
import Testing

/// `RealFFT` against the definition, a direct O(n²) DFT in double: radix 2 and the mixed-radix lengths (Whisper's
/// 400 = 2⁴·5², and lengths with factors 3 and 5), full and zero-padded inputs.
@Suite struct RealFFTTests {
    @Test(arguments: [8, 12, 30, 45, 400, 512])
    func magnitudesMatchTheDefinition(length: Int) {
        for count in [length, length / 3] {
            // Deterministic, aperiodic values in (−1, 1).
            let input = (0..<count).map { Float(sin(Double($0 * $0 + length) * 0.618_033_988_7)) }
            let fft = RealFFT(length: length)
            var real = [Double](repeating: 0, count: length), imaginary = real
            var magnitudes = [Double](repeating: 0, count: length / 2 + 1)
            input.withUnsafeBufferPointer {
                fft.magnitudes(of: $0, real: &real, imaginary: &imaginary, into: &magnitudes)
            }
            for k in 0...length / 2 {
                var (re, im) = (0.0, 0.0)
                for j in 0..<count {
                    let angle = 2 * Double.pi * Double((j * k) % length) / Double(length)
                    re += Double(input[j]) * cos(angle)
                    im -= Double(input[j]) * sin(angle)
                }
                let expected = (re * re + im * im).squareRoot()
                #expect(abs(magnitudes[k] - expected) <= 1e-12 * Double(length), "n \(length) k \(k)")
            }
        }
    }
}
