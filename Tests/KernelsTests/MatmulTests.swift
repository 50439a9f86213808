import Kernels
import Testing

/// A deterministic stream of floats in [-1, 1).
private struct Numbers {
    var state: UInt64
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 23) - 1
    }
    mutating func array(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
}

/// The products of `Matmul`: exact per row whatever the call, the threads, the instruction set or the stored
/// element type, and correct against a float64 reference.
@Suite struct MatmulTests {
    /// Shapes with ragged edges: N not a multiple of 16 (or of 64, the one-row tile), K across several 256-blocks.
    static let shapes: [(n: Int, k: Int)] = [(1, 1), (17, 3), (40, 300), (100, 513), (64, 1024), (1536, 1024), (33, 4096), (145, 257)]

    /// The contract of ckernels.h, element by element: per block of 256 k, one fused multiply-add per k in k order
    /// from zero; the block sums added in order (onto `start` when accumulating).
    static func chain(_ x: [Float], _ w: [Float], row: Int, column: Int, k: Int, from start: Float?) -> Float {
        var total = start
        for block in stride(from: 0, to: k, by: 256) {
            var sum: Float = 0
            for i in block..<min(k, block + 256) { sum.addProduct(x[row * k + i], w[column * k + i]) }   // fused
            total = total.map { $0 + sum } ?? sum
        }
        return total ?? 0
    }

    func product(_ x: [Float], rows: Int, _ w: PackedMatrix, threads: MatmulThreads? = nil) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * w.outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                Matmul.linear(xp.baseAddress!, rows: rows, weight: w, into: yp.baseAddress!, threads: threads)
            }
        }
        return y
    }

    @Test("each row is the same bits alone, in any call, on any thread count, on the portable kernel")
    func rowsAreIndependentOfTheCall() {
        print("[matmul] kernels: \(Matmul.instructionSet)")
        for isa in KernelInstructionSet.allCases where isa > KernelInstructionSet.detected {
            print("[matmul] \(isa.name) not compared: this CPU lacks it")
        }
        var numbers = Numbers(state: 7)
        let pool = MatmulThreads(count: 3)
        for (n, k) in Self.shapes {
            let w = numbers.array(n * k)
            let packed = w.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outFeatures: n, inFeatures: k) }
            let rows = 29
            let x = numbers.array(rows * k)
            let all = product(x, rows: rows, packed, threads: pool)
            #expect(!all.contains { $0.isNaN })
            for m in [0, 5, 6, 13, 28] {
                let alone = product(Array(x[m * k..<(m + 1) * k]), rows: 1, packed)
                #expect(alone == Array(all[m * n..<(m + 1) * n]), "row \(m) of \(n)×\(k)")
            }
            for split in [1, 2, 7, 12] {   // the same rows in calls of `split` rows
                var pieces: [Float] = []
                for start in stride(from: 0, to: rows, by: split) {
                    let count = min(split, rows - start)
                    pieces += product(Array(x[start * k..<(start + count) * k]), rows: count, packed)
                }
                #expect(pieces == all, "\(n)×\(k) in calls of \(split) rows")
            }
            for isa in KernelInstructionSet.allCases where isa <= KernelInstructionSet.detected {
                var other = [Float](repeating: .nan, count: rows * n)
                x.withUnsafeBufferPointer { xp in
                    other.withUnsafeMutableBufferPointer {
                        Matmul.linear(xp.baseAddress!, rows: rows, weight: packed, into: $0.baseAddress!, on: isa)
                    }
                }
                #expect(other == all, "\(Matmul.instructionSet) kernel vs \(isa.name), \(n)×\(k)")
            }
            for (m, j) in [(0, 0), (rows - 1, n - 1), (rows / 2, n / 2)] {
                #expect(all[m * n + j] == Self.chain(x, w, row: m, column: j, k: k, from: nil), "\(n)×\(k) [\(m), \(j)]")
            }
        }
    }

    @Test("the kernel named for each stored element: f32's is the active one; bf16 and f16 share one, AVX2 only where a CPU splits 512-bit operations")
    func storedElementNamesItsKernel() {
        let f32 = Matmul.instructionSet(forStored: .f32), bf16 = Matmul.instructionSet(forStored: .bf16)
        #expect(f32 == Matmul.instructionSet)
        #expect(Matmul.instructionSet(forStored: .f16) == bf16)
        #expect(bf16 == f32 || (bf16 == "avx2" && f32.hasPrefix("avx512")), "f32 \(f32), bf16 \(bf16)")
        print("MatmulTests: f32-stored weights run \(f32), bf16/f16-stored \(bf16)")
    }

    @Test("a product over part of W gives the bits of the product with W cut to that part, and leaves the rest")
    func partOfTheMatrix() {
        var numbers = Numbers(state: 5)
        let (rows, n, k) = (11, 70, 700)
        let w = numbers.array(n * k), x = numbers.array(rows * k)
        let packed = w.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outFeatures: n, inFeatures: k) }
        for (columns, depth) in [(70, 700), (33, 700), (16, 256), (70, 512), (1, 256)] {
            let cut = (0..<columns).flatMap { j in w[j * k..<j * k + depth] }
            let expected = cut.withUnsafeBufferPointer {
                product(Array((0..<rows).flatMap { m in x[m * k..<m * k + depth] }), rows: rows,
                        PackedMatrix($0.baseAddress!, outFeatures: columns,
                                     inFeatures: depth))
            }
            for threads in [nil, MatmulThreads(count: 2)] {
                var y = [Float](repeating: .nan, count: rows * (n + 3))
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer {
                        Matmul.linear(xp.baseAddress!, rows: rows, inputStride: k, weight: packed, columns: columns,
                                      depth: depth, into: $0.baseAddress!, outStride: n + 3, threads: threads)
                    }
                }
                let computed = (0..<rows).flatMap { m in y[m * (n + 3)..<m * (n + 3) + columns] }
                #expect(computed == expected, "columns \(columns), depth \(depth)")
                #expect((0..<rows).allSatisfy { m in y[m * (n + 3) + columns..<(m + 1) * (n + 3)].allSatisfy(\.isNaN) })
            }
        }
    }

    @Test("a bias is added to the finished sum: the bits of adding it afterwards, on any thread count")
    func biasAfterTheSum() {
        var numbers = Numbers(state: 13)
        for (n, k) in Self.shapes {
            let w = numbers.array(n * k), bias = numbers.array(n), rows = 13
            let packed = w.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outFeatures: n, inFeatures: k) }
            let x = numbers.array(rows * k)
            let expected = product(x, rows: rows, packed).enumerated().map { $0.element + bias[$0.offset % n] }
            for threads in [nil, MatmulThreads(count: 2)] {
                var y = [Float](repeating: .nan, count: rows * n)
                x.withUnsafeBufferPointer { xp in
                    bias.withUnsafeBufferPointer { bp in
                        y.withUnsafeMutableBufferPointer {
                            Matmul.linear(xp.baseAddress!, rows: rows, weight: packed, bias: bp.baseAddress!,
                                          into: $0.baseAddress!, threads: threads)
                        }
                    }
                }
                #expect(y == expected, "\(n)×\(k) on \(Matmul.instructionSet)")
            }
        }
    }

    @Test("packing from the transpose gives the matrix packing the rows gives")
    func transposedPacking() {
        var numbers = Numbers(state: 9)
        for (n, k) in [(1, 1), (17, 3), (128, 600), (40, 300)] {
            let stride = n + 5
            let source = numbers.array(k * stride)   // (k, stride): W[j, i] = source[i · stride + j]
            let rows = (0..<n).flatMap { j in (0..<k).map { i in source[i * stride + j] } }
            let expected = rows.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outFeatures: n, inFeatures: k) }
            let packed = PackedMatrix(outFeatures: n, inFeatures: k, element: .f32)
            source.withUnsafeBufferPointer { packed.packTransposed(from: $0.baseAddress!, sourceStride: stride) }
            let x = numbers.array(9 * k)
            #expect(product(x, rows: 9, packed) == product(x, rows: 9, expected), "\(n)×\(k)")
        }
    }

    @Test("results match a float64 reference to float32 rounding")
    func accurate() {
        var numbers = Numbers(state: 11)
        let (rows, n, k) = (7, 70, 700)
        let w = numbers.array(n * k), x = numbers.array(rows * k)
        let packed = w.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outFeatures: n, inFeatures: k) }
        let y = product(x, rows: rows, packed)
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
        print("[matmul] worst error / Σ|x·w| = \(worst)")
        #expect(worst < Double(k) * 0x1p-24)   // the bound for k sequential roundings
    }

    @Test("bf16 and f16 weights held as stored give the bits of the same weights widened to f32")
    func storedPrecisionIsExact() {
        var numbers = Numbers(state: 3)
        let (rows, n, k) = (13, 48, 520)
        let x = numbers.array(rows * k)
        let source = numbers.array(n * k)
        let bf16 = source.map { UInt16($0.bitPattern >> 16) }
        let f16 = source.map { Float16($0).bitPattern }
        for (element, bits) in [(WeightElement.bf16, bf16), (.f16, f16)] {
            let widened: [Float] = bits.map {
                element == .bf16 ? Float(bitPattern: UInt32($0) << 16) : Float(Float16(bitPattern: $0))
            }
            let stored = PackedMatrix(outFeatures: n, inFeatures: k, element: element)
            bits.withUnsafeBytes { stored.pack(rows: 0..<n, from: $0.baseAddress!, element: element, rowBytes: 2 * k) }
            let wide = widened.withUnsafeBufferPointer {
                PackedMatrix($0.baseAddress!, outFeatures: n, inFeatures: k)
            }
            let widenedAtPack = PackedMatrix(outFeatures: n, inFeatures: k, element: .f32)
            bits.withUnsafeBytes {
                widenedAtPack.pack(rows: 0..<n, from: $0.baseAddress!, element: element, rowBytes: 2 * k)
            }
            #expect(stored.byteCount == n * k * 2)
            let expected = product(x, rows: rows, wide)
            #expect(product(x, rows: rows, stored) == expected, "\(element)")
            #expect(product(x, rows: rows, stored, threads: MatmulThreads(count: 2)) == expected, "\(element)")
            #expect(product(x, rows: rows, widenedAtPack) == expected, "\(element) widened while packing")
            for isa in KernelInstructionSet.allCases where isa <= KernelInstructionSet.detected {
                var other = [Float](repeating: .nan, count: rows * n)
                x.withUnsafeBufferPointer { xp in
                    other.withUnsafeMutableBufferPointer {
                        Matmul.linear(xp.baseAddress!, rows: rows, weight: stored, into: $0.baseAddress!, on: isa)
                    }
                }
                #expect(other == expected, "\(element) on \(isa.name)")
            }
        }
    }

    @Test("accumulate adds onto the output; strided rows read and write in place")
    func accumulateAndStrides() {
        var numbers = Numbers(state: 5)
        let (rows, n, k) = (3, 20, 40)
        let w = numbers.array(n * k), x = numbers.array(rows * k)
        let packed = w.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outFeatures: n, inFeatures: k) }
        let plain = product(x, rows: rows, packed)
        // Rows of x inside wider rows (stride k + 5), outputs inside wider rows (stride n + 3), starting at 1.
        var wideX = [Float](repeating: 9, count: rows * (k + 5))
        for m in 0..<rows { for i in 0..<k { wideX[m * (k + 5) + i] = x[m * k + i] } }
        var out = [Float](repeating: 1, count: rows * (n + 3))
        wideX.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { yp in
                Matmul.linear(xp.baseAddress!, rows: rows, inputStride: k + 5, weight: packed, into: yp.baseAddress!,
                              outStride: n + 3, accumulate: true)
            }
        }
        for m in 0..<rows {
            for j in 0..<n {
                #expect(out[m * (n + 3) + j] == Self.chain(x, w, row: m, column: j, k: k, from: 1))
                #expect(plain[m * n + j] == Self.chain(x, w, row: m, column: j, k: k, from: nil))
            }
            for j in n..<n + 3 { #expect(out[m * (n + 3) + j] == 1) }   // outside the product: untouched
        }
    }
}
