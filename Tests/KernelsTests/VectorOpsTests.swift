import CKernels
import Foundation
import Kernels
import Testing

/// The element-wise kernels and the float64 dot product: the same bits on every instruction set, and accurate.
@Suite struct VectorOpsTests {
    @Test("exp is float64-evaluated e^x rounded once: within 1 ulp of Foundation's exp everywhere it is finite")
    func expIsAccurate() {
        var worst: Float = 0
        var x: Float = -110
        while x < 95 {
            let e = ek_exp(x)
            let exact = Float(Foundation.exp(Double(x)))
            if exact.isFinite && exact > 0 {
                worst = max(worst, abs(e - exact) / exact.ulp)
            } else {
                #expect(e == exact, "e^\(x)")
            }
            x += 0.000_731
        }
        print("[vector] exp: worst |Δ| = \(worst) ulp against Foundation's float64 exp rounded")
        #expect(worst <= 1)
        #expect(ek_exp(.nan).isNaN)
        #expect(ek_exp(-.infinity) == 0 && ek_exp(.infinity) == .infinity && ek_exp(0) == 1)
    }

    @Test("SiLU, GELU, the shifted exp and the float64 dot product give the same bits on AVX2 and the portable code")
    func sameBitsOnEveryInstructionSet() {
        var state: UInt64 = 1
        let values: [Float] = (0..<4099).map { i in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) - 0.5) * Float(1 << (i % 9))
        } + [.nan, .infinity, -.infinity, 0, -0.0, 100, -100, 88.7, -87.4]
        var vector = values, portable = values
        ek_silu_isa(EK_ISA_AVX2, &vector, vector.count)
        ek_silu_isa(EK_ISA_PORTABLE, &portable, portable.count)
        #expect(zip(vector, portable).allSatisfy { $0.bitPattern == $1.bitPattern })
        (vector, portable) = (values, values)
        ek_gelu_isa(EK_ISA_AVX2, &vector, vector.count)
        ek_gelu_isa(EK_ISA_PORTABLE, &portable, portable.count)
        #expect(zip(vector, portable).allSatisfy { $0.bitPattern == $1.bitPattern })
        (vector, portable) = (values, values)
        ek_exp_shifted_isa(EK_ISA_AVX2, &vector, vector.count, 3.5)
        ek_exp_shifted_isa(EK_ISA_PORTABLE, &portable, portable.count, 3.5)
        #expect(zip(vector, portable).allSatisfy { $0.bitPattern == $1.bitPattern })
        let finite = Array(values.prefix(4099)), other = Array(finite.reversed())
        for count in [0, 1, 15, 16, 17, 128, 1152, 4099] {
            #expect(ek_dot_f64_isa(EK_ISA_AVX2, finite, other, count)
                    == ek_dot_f64_isa(EK_ISA_PORTABLE, finite, other, count))
        }
        print("[vector] on this CPU the AVX2 versions \(ek_detected_isa().rawValue >= EK_ISA_AVX2.rawValue ? "ran" : "fell back to portable")")
    }

    @Test("exponentiate(minus:) is that exp of the float32 difference, on every length")
    func shiftedExp() {
        let values: [Float] = (0..<37).map { Float($0) * 0.731 - 20 } + [-.infinity, .nan]
        let expected = values.map { ek_exp($0 - 1.25) }
        for count in [0, 1, 7, 8, 9, 39] {
            var x = values
            x.withUnsafeMutableBufferPointer { VectorOps.exponentiate($0.baseAddress!, count: count, minus: 1.25) }
            #expect(zip(x.prefix(count), expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(count)")
            #expect(zip(x.dropFirst(count), values.dropFirst(count)).allSatisfy { $0.bitPattern == $1.bitPattern })
        }
    }

    @Test("GELU's erf is float64 erf rounded once: x · 0.5 · (1 + that) in float32, on a sweep of x")
    func geluUsesCorrectlyRoundedErf() {
        var x: [Float] = stride(from: -14, through: 14, by: 0.000_37).map { Float($0) }
            + [0, -0.0, 1e-30, -1e-38, .infinity, .greatestFiniteMagnitude]
        let expected = x.map { v -> Float in v * 0.5 * (1 + Float(Foundation.erf(Double(v * 0.707_106_77)))) }
        x.withUnsafeMutableBufferPointer { VectorOps.gelu($0.baseAddress!, count: $0.count) }
        // Within ~1e-12 of a rounding tie the float64 series may round the other way than erf itself.
        let differing = zip(x, expected).filter { $0.bitPattern != $1.bitPattern }.count
        print("[vector] gelu: \(differing) of \(x.count) differ from float64 erf rounded once")
        #expect(differing <= x.count / 10_000)
        var special: [Float] = [.nan, -.infinity]
        special.withUnsafeMutableBufferPointer { VectorOps.gelu($0.baseAddress!, count: $0.count) }
        #expect(special.allSatisfy { $0.isNaN })   // −∞ · 0.5 · (1 + erf(−∞)) = −∞ · 0, as PyTorch computes it
    }

    @Test("SiLU is x / (1 + e^−x) with that exp")
    func siluFormula() {
        var x: [Float] = [-30, -3, -0.5, 0, 0.25, 2, 9, 40]
        let expected = x.map { $0 / (1 + ek_exp(-$0)) }
        x.withUnsafeMutableBufferPointer { VectorOps.silu($0.baseAddress!, count: $0.count) }
        #expect(x == expected)
    }
}
