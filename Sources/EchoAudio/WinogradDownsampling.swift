import Kernels

/// `we.2`, the seed's `Conv1d(dims, dims, 5, stride 2, padding 2)`, computed with Winograd's minimal filtering:
/// 7 channel products per pair of output rows instead of 10 — more than half of a waveform pass's arithmetic is
/// this convolution over 24 000 rows.
///
/// With `W_k` the `[out, in]` matrix of tap k and `p` the zero-padded input rows, output row r is
/// `Σ_k W_k · p[2r + k]`. Split into the even taps `g = (W_0, W_2, W_4)` over the even rows and the odd taps
/// `h = (W_1, W_3)` over the odd rows, a pair of outputs (2τ, 2τ + 1) reads `d_i = p[4τ + 2i]` (i < 4) and
/// `a_i = p[4τ + 2i + 1]` (i < 3), and F(2,3) on the even part and F(2,2) on the odd part give
///
///     y[2τ]     = [d0 − d2, a0 − a1]·[g0 | h0]ᵀ + T + U
///     y[2τ + 1] = [d3 − d1, a2 − a1]·[g2 | h1]ᵀ + T − U
///     T = [d1 + d2, a1]·[(g0 + g1 + g2)/2 | h0 + h1]ᵀ,   U = (d2 − d1)·((g0 − g1 + g2)/2)ᵀ
///
/// (each `x·Mᵀ` one product over the input channels). The transformed weights are formed in float64 and rounded
/// once; the transforms' additions add a few float32 roundings per element, well inside the parity bar.
struct WinogradDownsampling: Sendable {
    let outer: PackedMatrix        // [out, 2·in]  [g0 | h0]: y[2τ]'s own taps
    let shared: PackedMatrix       // [out, 2·in]  [(g0 + g1 + g2)/2 | h0 + h1]: T
    let alternating: PackedMatrix  // [out, in]    (g0 − g1 + g2)/2: U
    let last: PackedMatrix         // [out, 2·in]  [g2 | h1]: y[2τ + 1]'s own taps
    let bias: WeightBuffer
    let inChannels: Int
    let outChannels: Int

    /// Floats per pair of output rows of transformed input: `[d0 − d2, a0 − a1 | d1 + d2, a1 | d2 − d1 |
    /// d3 − d1, a2 − a1]`.
    var transformedWidth: Int { 7 * inChannels }

    /// From the checkpoint's `weight [out, in, 5]` and `bias [out]`.
    init(weight w: WeightBuffer, bias: WeightBuffer, inChannels: Int, outChannels: Int) {
        let (n, c) = (outChannels, inChannels)
        func tap(_ k: Int, _ o: Int, _ i: Int) -> Double { Double(w[(o * c + i) * 5 + k]) }
        /// A `[out, segments·in]` matrix whose segment s, element (o, i), is `value(s, o, i)` rounded once.
        func matrix(segments: Int, _ value: (Int, Int, Int) -> Double) -> PackedMatrix {
            let width = segments * c
            let rows = WeightBuffer(count: n * width) { r in
                for o in 0..<n { for s in 0..<segments { for i in 0..<c { r[o * width + s * c + i] = Float(value(s, o, i)) } } }
            }
            return PackedMatrix(rows.base, outFeatures: n, inFeatures: width)
        }
        outer = matrix(segments: 2) { s, o, i in s == 0 ? tap(0, o, i) : tap(1, o, i) }
        shared = matrix(segments: 2) { s, o, i in
            s == 0 ? (tap(0, o, i) + tap(2, o, i) + tap(4, o, i)) / 2 : tap(1, o, i) + tap(3, o, i)
        }
        alternating = matrix(segments: 1) { _, o, i in (tap(0, o, i) - tap(2, o, i) + tap(4, o, i)) / 2 }
        last = matrix(segments: 2) { s, o, i in s == 0 ? tap(4, o, i) : tap(3, o, i) }
        self.bias = bias
        self.inChannels = inChannels
        self.outChannels = outChannels
    }

    /// Output rows `[0, 2·pairs)` into `out` `(2·pairs, out)`, from `input` `(4·pairs + 3, in)`: the padded rows
    /// `p[0 ..< 4·pairs + 3]`, output row r reading rows `2r ..< 2r + 5`. `transformed` holds
    /// `(pairs, transformedWidth)` floats and `products` `(4, pairs, out)`.
    func apply(_ input: UnsafePointer<Float>, pairs: Int, transformed: UnsafeMutablePointer<Float>,
               products: UnsafeMutablePointer<Float>, threads: MatmulThreads, into out: UnsafeMutablePointer<Float>) {
        let (c, n, width) = (inChannels, outChannels, transformedWidth)
        threads.forEachRange(pairs, grain: 8) { range in
            for pair in range {
                let p = input + 4 * pair * c
                let (d0, a0, d1, a1, d2, a2, d3) = (p, p + c, p + 2 * c, p + 3 * c, p + 4 * c, p + 5 * c, p + 6 * c)
                let x = transformed + pair * width
                // One loop per segment: each one a vector loop.
                Self.combine(d0, d2, -1, into: x, count: c)
                Self.combine(a0, a1, -1, into: x + c, count: c)
                Self.combine(d1, d2, 1, into: x + 2 * c, count: c)
                (x + 3 * c).update(from: a1, count: c)
                Self.combine(d2, d1, -1, into: x + 4 * c, count: c)
                Self.combine(d3, d1, -1, into: x + 5 * c, count: c)
                Self.combine(a2, a1, -1, into: x + 6 * c, count: c)
            }
        }
        let (first, sum, difference, second) = (products, products + pairs * n, products + 2 * pairs * n,
                                                products + 3 * pairs * n)
        Matmul.linear(transformed, rows: pairs, inputStride: width, weight: outer, into: first, threads: threads)
        Matmul.linear(transformed + 2 * c, rows: pairs, inputStride: width, weight: shared, into: sum,
                      threads: threads)
        Matmul.linear(transformed + 4 * c, rows: pairs, inputStride: width, weight: alternating, into: difference,
                      threads: threads)
        Matmul.linear(transformed + 5 * c, rows: pairs, inputStride: width, weight: last, into: second,
                      threads: threads)
        let b = bias.base
        threads.forEachRange(pairs, grain: 8) { range in
            for pair in range {
                let (even, odd) = (out + 2 * pair * n, out + (2 * pair + 1) * n)
                let (v0, t, u, v1) = (first + pair * n, sum + pair * n, difference + pair * n, second + pair * n)
                Self.assemble(v0, t, u, 1, b, into: even, count: n)
                Self.assemble(v1, t, u, -1, b, into: odd, count: n)
            }
        }
    }

    /// `out[i] = a[i] + sign · b[i]`, sign ±1 (exact: the sum is rounded once either way).
    private static func combine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ sign: Float,
                                into out: UnsafeMutablePointer<Float>, count: Int) {
        let (a, b) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
        var i = 0
        while i + 8 <= count {
            let sum = a.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                + sign * b.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: sum, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            out[i] = a.load(fromByteOffset: 4 * i, as: Float.self) + sign * b.load(fromByteOffset: 4 * i, as: Float.self)
            i += 1
        }
    }

    /// `out[i] = ((v[i] + t[i]) + sign · u[i]) + bias[i]`, sign ±1.
    private static func assemble(_ v: UnsafePointer<Float>, _ t: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                                 _ sign: Float, _ bias: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                 count: Int) {
        for i in 0..<count { out[i] = ((v[i] + t[i]) + sign * u[i]) + bias[i] }
    }
}
