import Kernels
import Testing

/// The bf16 dot products: the portable emulation of `vdpbf16ps` is the instruction bit for bit, a row's bits do
/// not depend on the call or the threads, and the results are within bf16's rounding of a float64 reference.
@Suite struct BF16MatmulTests {
    static let shapes: [(n: Int, k: Int)] = [(1, 1), (17, 3), (40, 301), (100, 513), (64, 1024), (1536, 1024),
                                             (33, 4096), (145, 257)]

    /// Deterministic values spread over several binades, with both signs.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 23) - 1) * Float(1 << Int((state >> 20) % 5))
        }
    }

    func product(_ x: [Float], rows: Int, _ w: BF16PairMatrix, split: Bool, threads: MatmulThreads? = nil) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * w.outFeatures)
        var scratch = [UInt32](repeating: 0, count: max(1, BF16Matmul.scratchWords(rows: rows, inFeatures: w.inFeatures,
                                                                                   split: split)))
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                scratch.withUnsafeMutableBufferPointer {
                    BF16Matmul.linear(xp.baseAddress!, rows: rows, weight: w, into: yp.baseAddress!, split: split,
                                      threads: threads, scratch: $0.baseAddress!)
                }
            }
        }
        return y
    }

    func product(_ x: [Float], rows: Int, _ w: BF16PairMatrix, split: Bool, on isa: KernelInstructionSet) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * w.outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer {
                BF16Matmul.linear(xp.baseAddress!, rows: rows, weight: w, split: split, into: $0.baseAddress!, on: isa)
            }
        }
        return y
    }

    @Test("rows are the same bits in any call and thread count, and the instruction equals its portable emulation",
          arguments: [false, true])
    func rowsAreIndependentOfTheCall(split: Bool) {
        let native = KernelInstructionSet.detected >= .avx512BF16
        if !native { print("[bf16] vdpbf16ps not compared with its emulation: this CPU lacks AVX512_BF16") }
        let pool = MatmulThreads(count: 3)
        for (index, (n, k)) in Self.shapes.enumerated() {
            let w = Self.values(n * k, seed: UInt64(index + 1))
            let packed = w.withUnsafeBufferPointer {
                BF16PairMatrix(rounding: $0.baseAddress!, outFeatures: n, inFeatures: k)
            }
            let rows = 29
            let x = Self.values(rows * k, seed: UInt64(100 + index))
            let all = product(x, rows: rows, packed, split: split, threads: pool)
            #expect(!all.contains { $0.isNaN })
            for m in [0, 5, 6, 13, 28] {
                let alone = product(Array(x[m * k..<(m + 1) * k]), rows: 1, packed, split: split)
                #expect(alone == Array(all[m * n..<(m + 1) * n]), "row \(m) of \(n)×\(k)")
            }
            for piece in [1, 2, 7, 12] {
                var pieces: [Float] = []
                for start in stride(from: 0, to: rows, by: piece) {
                    let count = min(piece, rows - start)
                    pieces += product(Array(x[start * k..<(start + count) * k]), rows: count, packed, split: split)
                }
                #expect(pieces == all, "\(n)×\(k) in calls of \(piece) rows")
            }
            let portable = product(x, rows: rows, packed, split: split, on: .portable)
            #expect(portable == all, "\(KernelInstructionSet.active.name) vs portable, \(n)×\(k), split \(split)")
        }
    }

    @Test("within bf16 rounding of a float64 reference; split carries ~16 bits of the input", arguments: [false, true])
    func accurate(split: Bool) {
        let (rows, n, k) = (7, 70, 700)
        let w = Self.values(n * k, seed: 5).map(BF16Matmul.rounded), x = Self.values(rows * k, seed: 6)
        let packed = w.withUnsafeBufferPointer { BF16PairMatrix(rounding: $0.baseAddress!, outFeatures: n, inFeatures: k) }
        let y = product(x, rows: rows, packed, split: split)
        var worst = 0.0
        for m in 0..<rows {
            for j in 0..<n {
                var exact = 0.0, magnitude = 0.0
                for i in 0..<k {
                    exact += Double(x[m * k + i]) * Double(w[j * k + i])
                    magnitude += abs(Double(x[m * k + i]) * Double(w[j * k + i]))
                }
                worst = max(worst, abs(Double(y[m * n + j]) - exact) / magnitude)
            }
        }
        print("[bf16] split \(split): worst error / Σ|x·w| = \(worst)")
        // Rounding x costs up to 2⁻⁹ relative per term (split: 2⁻¹⁷); the float32 sum adds up to k·2⁻²⁴.
        #expect(worst < (split ? 0x1p-17 : 0x1p-9) + Double(k) * 0x1p-24)
        if !split { #expect(worst > 0x1p-17) }   // it did round the input
    }

    @Test("inputs at rounding ties, subnormal and near bf16's largest give the portable kernel's bits",
          arguments: [false, true])
    func awkwardInputs(split: Bool) {
        let (rows, n, k) = (5, 40, 333)
        let w = Self.values(n * k, seed: 12)
        let packed = w.withUnsafeBufferPointer { BF16PairMatrix(rounding: $0.baseAddress!, outFeatures: n, inFeatures: k) }
        let special: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, -(1 + 0x1p-8), 0x1p-130, -0x1p-140, 0, -0.0,
                                1 + 0x1p-8 + 0x1p-23, 3.0e30, -2.5e-38, 0x1.fffffep-127]
        var x = Self.values(rows * k, seed: 13)
        for i in stride(from: 0, to: x.count, by: 3) { x[i] = special[(i / 3) % special.count] }
        let vector = product(x, rows: rows, packed, split: split, on: .avx512BF16)
        let portable = product(x, rows: rows, packed, split: split, on: .portable)
        #expect(!portable.contains { $0.isNaN })
        #expect(vector == portable)
    }

    @Test("rounding: to nearest even, subnormals to zero, NaN stays NaN, overflow to infinity")
    func rounding() {
        #expect(BF16Matmul.rounded(1 + 0x1p-8) == 1)                    // a tie, to even
        #expect(BF16Matmul.rounded(1 + 3 * 0x1p-8) == 1 + 0x1p-6)       // a tie, to even (up)
        #expect(BF16Matmul.rounded(1 + 0x1p-8 + 0x1p-20) == 1 + 0x1p-7)
        #expect(BF16Matmul.rounded(0x1p-130) == 0)
        #expect(BF16Matmul.rounded(-0x1p-130).sign == .minus && BF16Matmul.rounded(-0x1p-130) == 0)
        #expect(BF16Matmul.rounded(.nan).isNaN)
        #expect(BF16Matmul.rounded(Float.greatestFiniteMagnitude) == .infinity)
    }

    @Test("accumulate adds onto the output; strided rows read and write in place")
    func accumulateAndStrides() {
        let (rows, n, k) = (3, 20, 41)
        let w = Self.values(n * k, seed: 8), x = Self.values(rows * k, seed: 9)
        let packed = w.withUnsafeBufferPointer { BF16PairMatrix(rounding: $0.baseAddress!, outFeatures: n, inFeatures: k) }
        let plain = product(x, rows: rows, packed, split: true)
        var wideX = [Float](repeating: 9, count: rows * (k + 5))
        for m in 0..<rows { for i in 0..<k { wideX[m * (k + 5) + i] = x[m * k + i] } }
        var out = [Float](repeating: 1, count: rows * (n + 3))
        var scratch = [UInt32](repeating: 0, count: BF16Matmul.scratchWords(rows: rows, inFeatures: k, split: true))
        wideX.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { yp in
                scratch.withUnsafeMutableBufferPointer {
                    BF16Matmul.linear(xp.baseAddress!, rows: rows, inputStride: k + 5, weight: packed,
                                      into: yp.baseAddress!, outStride: n + 3, accumulate: true, split: true,
                                      scratch: $0.baseAddress!)
                }
            }
        }
        for m in 0..<rows {
            for j in 0..<n { #expect(out[m * (n + 3) + j] == 1 + plain[m * n + j]) }   // one block: 1 + s
            for j in n..<n + 3 { #expect(out[m * (n + 3) + j] == 1) }
        }
    }
}
