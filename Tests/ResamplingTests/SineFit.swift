import Foundation

/// Least-squares fit of `a·sin(2πft) + b·cos(2πft) + c` to a signal, with the frequency refined by golden-section
/// search on the residual. Test helper: measures frequency, amplitude, phase and SNR of a resampled sine.
struct SineFit {
    var frequency: Double
    var amplitude: Double
    /// Phase of `amplitude·sin(2πf·t + phase)` at `t = 0` (sample index 0 of the fitted signal, not of the slice).
    var phase: Double
    var offset: Double
    /// 10·log10(power of the fitted sine / power of the residual), in dB.
    var snr: Double

    /// Fits samples `range` of `signal` (sampled at `rate`); `t = index / rate` with index counted from 0.
    /// The residual has side minima about every `rate / range.count` Hz, so a coarse grid over
    /// `guess ± searchWidth` picks the main valley first; golden-section search then refines inside it.
    init(_ signal: [Float], rate: Double, range: Range<Int>, near guess: Double, searchWidth: Double = 1) {
        let step = rate / Double(range.count) / 8
        var best = guess, bestResidual = Double.infinity
        for f in stride(from: guess - searchWidth, through: guess + searchWidth, by: step) {
            let r = Self.linearFit(signal, rate: rate, range: range, frequency: f).residual
            if r < bestResidual { (best, bestResidual) = (f, r) }
        }
        var lo = best - step, hi = best + step
        let golden = (5.0.squareRoot() - 1) / 2
        for _ in 0..<40 {
            let m1 = hi - golden * (hi - lo), m2 = lo + golden * (hi - lo)
            if Self.linearFit(signal, rate: rate, range: range, frequency: m1).residual
                < Self.linearFit(signal, rate: rate, range: range, frequency: m2).residual {
                hi = m2
            } else {
                lo = m1
            }
        }
        let f = (lo + hi) / 2
        let fit = Self.linearFit(signal, rate: rate, range: range, frequency: f)
        frequency = f
        amplitude = (fit.a * fit.a + fit.b * fit.b).squareRoot()
        phase = atan2(fit.b, fit.a)
        offset = fit.c
        let signalPower = amplitude * amplitude / 2
        snr = 10 * log10(signalPower / (fit.residual / Double(range.count)))
    }

    /// Solves the 3×3 normal equations for a fixed frequency; returns coefficients and residual sum of squares.
    static func linearFit(_ x: [Float], rate: Double, range: Range<Int>, frequency f: Double)
        -> (a: Double, b: Double, c: Double, residual: Double)
    {
        var m = [[Double]](repeating: [0, 0, 0], count: 3)
        var v = [0.0, 0.0, 0.0]
        let w = 2 * Double.pi * f / rate
        for i in range {
            let basis = [sin(w * Double(i)), cos(w * Double(i)), 1]
            for r in 0..<3 {
                v[r] += basis[r] * Double(x[i])
                for c in 0..<3 { m[r][c] += basis[r] * basis[c] }
            }
        }
        let s = solve3(m, v)
        var residual = 0.0
        for i in range {
            let e = Double(x[i]) - (s[0] * sin(w * Double(i)) + s[1] * cos(w * Double(i)) + s[2])
            residual += e * e
        }
        return (s[0], s[1], s[2], residual)
    }

    /// Gaussian elimination with partial pivoting for a 3×3 system.
    static func solve3(_ a: [[Double]], _ b: [Double]) -> [Double] {
        var m = a, y = b
        for col in 0..<3 {
            let pivot = (col..<3).max { abs(m[$0][col]) < abs(m[$1][col]) }!
            m.swapAt(col, pivot); y.swapAt(col, pivot)
            for row in (col + 1)..<3 {
                let k = m[row][col] / m[col][col]
                for c in col..<3 { m[row][c] -= k * m[col][c] }
                y[row] -= k * y[col]
            }
        }
        var x = [0.0, 0.0, 0.0]
        for row in stride(from: 2, through: 0, by: -1) {
            var s = y[row]
            for c in (row + 1)..<3 { s -= m[row][c] * x[c] }
            x[row] = s / m[row][row]
        }
        return x
    }
}
