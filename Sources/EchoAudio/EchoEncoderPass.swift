#if canImport(Glibc)
import Glibc
#endif
import Kernels

/// The seed's `AudioEncoder.forward(x, w)` on one window, activations time-major (`[frames, channels]` rows, the
/// transpose of PyTorch's `[channels, frames]`), float32 throughout.
extension EchoModel {
    /// Encodes one window into `out`, `(ctx, dims)`.
    ///
    /// - Parameters:
    ///   - mel: the log-mel, time-major `(ctx, mels)`, or nil for the waveform alone.
    ///   - waveform: 16 kHz samples of any length ≥ 1 (the windowed paths pass `ctx · 160`), or nil for the mel
    ///     alone. `AdaptiveAvgPool1d(ctx)` maps any length onto ctx rows.
    public func encode(mel: UnsafePointer<Float>?, waveform: UnsafeBufferPointer<Float>?, scratch s: EchoScratch,
                       into out: UnsafeMutablePointer<Float>) throws {
        guard mel != nil || waveform != nil else {
            throw EchoError(.invalidInput, file: nil, "an Echo pass needs a log-mel, a waveform or both")
        }
        if let waveform, waveform.isEmpty {
            throw EchoError(.invalidInput, file: nil, "the waveform is empty")
        }
        run(mel: mel, waveform: waveform, scratch: s, into: out)
    }

    /// ``encode(mel:waveform:scratch:into:)`` for inputs already checked: at least one of them, and a waveform of at
    /// least one sample.
    func run(mel: UnsafePointer<Float>?, waveform: UnsafeBufferPointer<Float>?, scratch s: EchoScratch,
             into out: UnsafeMutablePointer<Float>) {
        let c = configuration, w = weights
        let (t, d) = (c.context, c.width)
        if let mel {
            spectrogramStack(mel, s, into: s.spectrogram.base)
            for i in 0..<(t * d) { s.spectrogram.base[i] += w.positional.base[i] }
        }
        if let waveform { waveformStack(waveform, s, into: s.pooled.base) }
        let x = s.hidden.base
        switch (mel != nil, waveform != nil) {
        case (true, true):
            // x = blend·(se(x) + pos) + (1 − blend)·we(w), blend = sigmoid(0.5) (see `seedBlendLogit`).
            let blend = 1 / (1 + expf(-EchoConfiguration.seedBlendLogit))
            for i in 0..<(t * d) { x[i] = blend * s.spectrogram.base[i] + (1 - blend) * s.pooled.base[i] }
        case (true, false):
            x.update(from: s.spectrogram.base, count: t * d)
        default:
            for i in 0..<(t * d) { x[i] = s.pooled.base[i] + w.positional.base[i] }
        }
        for layer in w.layers { residualBlock(layer, s) }
        rmsNorm(x, weight: w.finalNorm, s, into: out)
    }

    /// `torch.finfo(torch.float32).eps`: the seed's RMSNorm is built without `eps`.
    static let rmsNormEpsilon = Float.ulpOfOne

    // MARK: se, the spectrogram stack

    private func spectrogramStack(_ mel: UnsafePointer<Float>, _ s: EchoScratch,
                                  into out: UnsafeMutablePointer<Float>) {
        let c = configuration, w = weights
        let (t, d, m) = (c.context, c.width, c.melBins)
        let padded = s.padded.base, work = s.work.base
        // se.0: Conv1d(mels, dims, 3, padding 1), then act.
        padRows(mel, rows: t, width: m, padding: 1, into: padded)
        convolve(w.spectrogramIn, padded, rows: t, stride: 1, s, into: work)
        activate(c.activation, work, count: t * d, s)
        // se.2: Conv1d(dims, dims, 3, padding 2, dilation 2): the taps t, t+2, t+4 of the padded rows, gathered.
        padRows(work, rows: t, width: d, padding: 2, into: padded)
        for row in 0..<t {
            for k in 0..<3 { (s.gathered.base + (row * 3 + k) * d).update(from: padded + (row + 2 * k) * d, count: d) }
        }
        Matmul.linear(s.gathered.base, rows: t, weight: w.dilated.weight, bias: w.dilated.bias.base, into: out,
                      threads: s.threads)
        // se.3: depthwise Conv1d(dims, dims, 3, padding 1, groups dims).
        padRows(out, rows: t, width: d, padding: 1, into: padded)
        let (depthwise, depthwiseBias) = (w.depthwise.base, w.depthwiseBias.base)
        s.threads.forEachRange(t, grain: 64) { rows in
            for row in rows {
                let (a, b, e) = (padded + row * d, padded + (row + 1) * d, padded + (row + 2) * d)
                let target = work + row * d
                for ch in 0..<d {
                    let k = depthwise + 3 * ch
                    target[ch] = a[ch] * k[0] + b[ch] * k[1] + e[ch] * k[2] + depthwiseBias[ch]
                }
            }
        }
        // se.4: Conv1d(dims, dims, 1).
        linear(w.pointwise, work, rows: t, s, into: out)
        // se.5: SEBlock: x · sigmoid(fc2(relu(fc1(mean over time)))).
        let mean = s.squeezed.base + c.squeezeWidth
        for ch in 0..<d {
            var sum: Float = 0
            for row in 0..<t { sum += out[row * d + ch] }
            mean[ch] = sum / Float(t)
        }
        linear(w.squeeze, mean, rows: 1, s, into: s.squeezed.base)
        EchoActivation.relu.apply(s.squeezed.base, count: c.squeezeWidth)
        linear(w.excite, s.squeezed.base, rows: 1, s, into: work)
        EchoActivation.sigmoid.apply(work, count: d)
        for row in 0..<t { for ch in 0..<d { out[row * d + ch] *= work[ch] } }
        // act, Dropout (identity: inference), se.8: Conv1d(dims, dims, 3, padding 1).
        activate(c.activation, out, count: t * d, s)
        padRows(out, rows: t, width: d, padding: 1, into: padded)
        convolve(w.spectrogramOut, padded, rows: t, stride: 1, s, into: out)
    }

    // MARK: we, the waveform stack

    /// Conv1d(1, dims, 11, stride 5, padding 5) → GELU → Conv1d(dims, dims, 5, stride 2, padding 2) → GELU →
    /// AdaptiveAvgPool1d(ctx), in slices of `waveformSliceRows` output rows of the second convolution (computed in
    /// pairs of rows: ``WinogradDownsampling``).
    private func waveformStack(_ samples: UnsafeBufferPointer<Float>, _ s: EchoScratch,
                               into out: UnsafeMutablePointer<Float>) {
        let c = configuration, w = weights
        let (t, d, n) = (c.context, c.width, samples.count)
        let firstRows = (n - 1) / 5 + 1              // L1: (n + 10 − 11) / 5 + 1
        let secondRows = (firstRows - 1) / 2 + 1     // L2: (L1 + 4 − 5) / 2 + 1
        out.update(repeating: 0, count: t * d)
        let sliceRows = EchoScratch.waveformSliceRows
        var sliceStart = 0
        while sliceStart < secondRows {
            let count = min(sliceRows, secondRows - sliceStart), pairs = (count + 1) / 2
            // we.2's output rows [a, a + 2·pairs) — one more than the slice's when count is odd, never pooled — read
            // we.0's rows [2a − 2, 2a + 4·pairs + 1): 4·pairs + 3 rows, zero outside [0, L1) (the padding).
            let firstStart = 2 * sliceStart - 2, firstCount = 4 * pairs + 3
            // Those rows of we.0 read samples [5·r0 − 5, 5·(r0 + rows − 1) + 6), zero outside [0, n).
            let sampleStart = 5 * firstStart - 5, sampleCount = 5 * (firstCount - 1) + 11
            for i in 0..<sampleCount {
                let j = sampleStart + i
                s.samples.base[i] = j >= 0 && j < n ? samples[j] : 0
            }
            let rows = s.waveformRows.base
            convolve(w.waveformIn, s.samples.base, rows: firstCount, stride: 5, s, into: rows)
            activate(.gelu, rows, count: firstCount * d, s)
            for r in 0..<firstCount where firstStart + r < 0 || firstStart + r >= firstRows {
                (rows + r * d).update(repeating: 0, count: d)
            }
            w.waveformDown.apply(rows, pairs: pairs, transformed: s.downsamplingInput.base,
                                 products: s.downsamplingProducts.base, threads: s.threads, into: s.waveformOut.base)
            activate(.gelu, s.waveformOut.base, count: count * d, s)
            // AdaptiveAvgPool1d: output i averages rows [⌊i·L2/ctx⌋, ⌈(i+1)·L2/ctx⌉), summed in row order.
            let sliced = s.waveformOut.base
            s.threads.forEachRange(t, grain: 64) { outputs in
                for i in outputs {
                    let start = i * secondRows / t, end = ((i + 1) * secondRows + t - 1) / t
                    let lower = max(start, sliceStart), upper = min(end, sliceStart + count)
                    guard lower < upper else { continue }
                    let sum = out + i * d
                    for row in lower..<upper {
                        let source = sliced + (row - sliceStart) * d
                        for ch in 0..<d { sum[ch] += source[ch] }
                    }
                }
            }
            sliceStart += count
        }
        for i in 0..<t {
            let size = Float(((i + 1) * secondRows + t - 1) / t - i * secondRows / t)
            for ch in 0..<d { out[i * d + ch] /= size }
        }
    }

    // MARK: Residual blocks

    /// `x + attna(lna(x))`, then `+ mlp(lnc(x))`, then `+ r` — the seed adds the block's input twice.
    private func residualBlock(_ layer: EchoLayerWeights, _ s: EchoScratch) {
        let c = configuration
        let (t, d) = (c.context, c.width)
        let x = s.hidden.base
        s.residual.base.update(from: x, count: t * d)
        rmsNorm(x, weight: layer.attentionNorm, s, into: s.normed.base)
        linear(layer.query, s.normed.base, rows: t, s, into: s.query.base)
        linear(layer.key, s.normed.base, rows: t, s, into: s.key.base)
        linear(layer.value, s.normed.base, rows: t, s, into: s.value.base)
        for head in 0..<c.headCount { attention(head: head, layer, s) }
        linear(layer.out, s.attended.base, rows: t, s, into: s.work.base)
        let (branch, residual) = (s.work.base, s.residual.base)
        s.threads.forEachRange(t * d, grain: 16_384) { range in for i in range { x[i] += branch[i] } }
        rmsNorm(x, weight: layer.mlpNorm, s, into: s.normed.base)
        linear(layer.mlpUp, s.normed.base, rows: t, s, into: s.wide.base)
        activate(c.mlpActivation, s.wide.base, count: t * 4 * d, s)
        linear(layer.mlpDown, s.wide.base, rows: t, s, into: s.work.base)
        s.threads.forEachRange(t * d, grain: 16_384) { range in
            for i in range { x[i] = (x[i] + branch[i]) + residual[i] }
        }
    }

    /// One head of `Multihead._attention`: rotary on q and k, scores `(q·h^-¼)·(k·h^-¼)ᵀ`, each score multiplied
    /// by 0 for a future key (the triangular mask applied by multiplication: a logit of 0, not −inf, so future
    /// keys still draw weight) and by 1e-6 where the key's first rotated element is exactly 0, softmax over every
    /// key, then the weighted sum of values into `attended`.
    ///
    /// A future key's logit is therefore exactly 0 — unless its score is infinite or NaN, which the mask turns into
    /// NaN — so when no score can be (every q and k finite, and Σ|q|·Σ|k| far below the float range) the rows run
    /// in blocks of `attentionBlockRows` that compute only the scores of keys before the block's end: the later
    /// keys all weigh `e^(0 − max) / sum`, and their values enter as that weight times their sum.
    private func attention(head: Int, _ layer: EchoLayerWeights, _ s: EchoScratch) {
        let c = configuration
        let (t, d, hd) = (c.context, c.width, c.headDimension)
        let half = hd / 2
        let scale = Float(pow(Double(hd), -0.25))
        let (q, k) = (s.query.base + head * hd, s.key.base + head * hd)
        // (a + ib)·(cos + i·sin) on each pair, then the scale; the seed tests the rotated, unscaled key.
        func rotate(_ vector: UnsafeMutablePointer<Float>, row: Int) {
            let (cosines, sines) = (layer.rotaryCos.base + row * half, layer.rotarySin.base + row * half)
            for j in 0..<half {
                let (a, b) = (vector[2 * j], vector[2 * j + 1])
                vector[2 * j] = a * cosines[j] - b * sines[j]
                vector[2 * j + 1] = a * sines[j] + b * cosines[j]
            }
        }
        let (keyIsZero, bounds) = (s.keyIsZero, s.rowBounds.base)
        s.threads.forEachRange(t, grain: 64) { rows in
            for row in rows {
                let (qRow, kRow) = (q + row * d, k + row * d)
                rotate(qRow, row: row)
                rotate(kRow, row: row)
                keyIsZero[row] = kRow[0] == 0
                var (qSum, kSum): (Float, Float) = (0, 0)
                for j in 0..<hd {
                    qRow[j] *= scale
                    kRow[j] *= scale
                    qSum += qRow[j].magnitude
                    kSum += kRow[j].magnitude
                }
                (bounds[row], bounds[t + row]) = (qSum, kSum)
            }
        }
        // |q·k| ≤ Σ|q|·Σ|k| bounds every partial sum of the product too; a NaN or ∞ anywhere fails the test.
        var (qLargest, kLargest, finite): (Float, Float, Bool) = (0, 0, true)
        var zeroKeyCount = 0   // the keys with keyIsZero, in order, listed in s.zeroKeys
        for row in 0..<t {
            finite = finite && bounds[row].isFinite && bounds[t + row].isFinite
            (qLargest, kLargest) = (max(qLargest, bounds[row]), max(kLargest, bounds[t + row]))
            if keyIsZero[row] {
                s.zeroKeys[zeroKeyCount] = row
                zeroKeyCount += 1
            }
        }
        let futureIsZero = s.skipsMaskedScores && finite && qLargest * kLargest < Float.greatestFiniteMagnitude / 4

        s.headKeys.pack(rows: 0..<t, from: UnsafeRawPointer(k), element: .f32, rowBytes: 4 * d)
        let v = s.value.base + head * hd
        s.headValues.packTransposed(from: v, sourceStride: d)
        // futureValues[b] = Σ v[j] over the keys after block b (j ≥ its end), summed in float64 from the last key.
        let blockRows = EchoScratch.attentionBlockRows
        let blocks = (t + blockRows - 1) / blockRows
        let (futureValues, running) = (s.futureValues.base, s.futureValueSum)
        running.update(repeating: 0, count: hd)
        for block in stride(from: blocks - 1, through: 0, by: -1) {
            for j in 0..<hd { futureValues[block * hd + j] = Float(running[j]) }
            for row in stride(from: min(t, (block + 1) * blockRows) - 1, through: block * blockRows, by: -1) {
                for j in 0..<hd { running[j] += Double(v[row * d + j]) }
            }
        }

        let (logits, futureWeight, zeroKeys, ones) = (s.logits.base, s.futureWeight.base, s.zeroKeys, s.ones.base)
        let zeroKeyFactor: Float = 0.000001
        for block in 0..<blocks {
            let start = block * blockRows, end = min(t, start + blockRows)
            // Keys [0, known) get their scores computed; the rest, all in the future, have logit 0.
            let known = futureIsZero ? end : t
            Matmul.linear(q + start * d, rows: end - start, inputStride: d, weight: s.headKeys, columns: known,
                          depth: hd, into: logits + start * t, outStride: t, threads: s.threads)
            s.threads.forEachRange(end - start, grain: 32) { rows in
                for row in rows.lowerBound + start ..< rows.upperBound + start {
                    let scores = logits + row * t
                    for n in 0..<zeroKeyCount {
                        let j = zeroKeys[n]
                        if j > row { break }
                        scores[j] *= zeroKeyFactor
                    }
                    for j in (row + 1)..<known { scores[j] *= 0 }
                    let maximum = Self.maximum(scores, count: known, atLeast: known < t ? 0 : -.infinity)
                    VectorOps.exponentiate(scores, count: known, minus: maximum)
                    futureWeight[row] = 0
                    VectorOps.exponentiate(futureWeight + row, count: 1, minus: maximum)
                    // A float64 sum: a float32 one over 1500 terms drifts by ~1e-5 relative at the output.
                    let sum = VectorOps.sumOfProducts(scores, ones, count: known)
                        + Double(t - known) * Double(futureWeight[row])
                    let inverse = Float(1 / sum)
                    for j in 0..<known { scores[j] *= inverse }
                    futureWeight[row] *= inverse
                }
            }
            let attended = s.attended.base + head * hd
            Matmul.linear(logits + start * t, rows: end - start, inputStride: t, weight: s.headValues, columns: hd,
                          depth: known, into: attended + start * d, outStride: d, threads: s.threads)
            guard known < t else { continue }
            let later = futureValues + block * hd
            for row in start..<end {
                let (target, weight) = (attended + row * d, futureWeight[row])
                for j in 0..<hd { target[j] += weight * later[j] }
            }
        }
    }

    /// The largest of `count` floats and `start` (NaNs aside: a row with a NaN becomes NaN in the softmax anyway).
    private static func maximum(_ x: UnsafePointer<Float>, count: Int, atLeast start: Float) -> Float {
        var lanes = SIMD8<Float>(repeating: start), j = 0
        while j + 8 <= count {
            let values = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            lanes.replace(with: values, where: values .> lanes)
            j += 8
        }
        var result = lanes.max()
        while j < count {
            result = max(result, x[j])
            j += 1
        }
        return result
    }

    // MARK: Products

    private func linear(_ l: EchoLinear, _ input: UnsafePointer<Float>, rows: Int, _ s: EchoScratch,
                        into out: UnsafeMutablePointer<Float>) {
        Matmul.linear(input, rows: rows, weight: l.weight, bias: l.bias?.base, into: out, threads: s.threads)
    }

    /// A convolution over time-major rows with no dilation: output row r is one product with the `kernel`
    /// consecutive input rows from `r · stride` of `padded` (which holds the padding rows itself).
    private func convolve(_ conv: TimeConvolution, _ padded: UnsafePointer<Float>, rows: Int, stride: Int,
                          _ s: EchoScratch, into out: UnsafeMutablePointer<Float>) {
        Matmul.linear(padded, rows: rows, inputStride: stride * conv.inChannels, weight: conv.weight,
                      bias: conv.bias.base, into: out, threads: s.threads)
    }

    /// The activation over `count` values, split over the scratch's threads.
    private func activate(_ activation: EchoActivation, _ x: UnsafeMutablePointer<Float>, count: Int,
                          _ s: EchoScratch) {
        s.threads.forEachRange(count, grain: 16_384) { range in
            activation.apply(x + range.lowerBound, count: range.count)
        }
    }

    /// The seed's RMSNorm over ctx rows, split over the scratch's threads.
    private func rmsNorm(_ x: UnsafePointer<Float>, weight: WeightBuffer, _ s: EchoScratch,
                         into out: UnsafeMutablePointer<Float>) {
        let (t, d) = (configuration.context, configuration.width)
        s.threads.forEachRange(t, grain: 64) { rows in
            VectorOps.rmsNorm(x + rows.lowerBound * d, rows: rows.count, width: d, weight: weight.base,
                              eps: Self.rmsNormEpsilon, into: out + rows.lowerBound * d)
        }
    }

    /// `rows` rows of `width` with `padding` zero rows before and after.
    private func padRows(_ source: UnsafePointer<Float>, rows: Int, width: Int, padding: Int,
                         into padded: UnsafeMutablePointer<Float>) {
        padded.update(repeating: 0, count: padding * width)
        (padded + padding * width).update(from: source, count: rows * width)
        (padded + (padding + rows) * width).update(repeating: 0, count: padding * width)
    }
}
