#if canImport(Glibc)
import Glibc
#endif
import Kernels

/// Rows of one stream inside a batched pass: rows `[start, start + count)` of the scratch buffers are this
/// stream's next `count` tokens.
struct PassSegment {
    let stream: EncoderStream
    let start: Int
    let count: Int
}

/// One Conformer block (spec §3.4) over the stacked rows of a pass. Projections run once over all rows; attention
/// and the depthwise conv run per stream against that stream's cache, then update it.
enum ConformerLayer {
    /// transformers builds the FFN norms and the block's own norms with `Gemma4RMSNorm(hidden_size)`, whose eps is
    /// its default 1e-6, not `rms_norm_eps` (only the light-conv norms and the embedder norm take the config value).
    static let fixedNormEps: Float = 1e-6

    /// Rows per thread below which row-wise work stays on one thread (waking a worker costs more).
    static let rowGrain = 4

    static func forward(_ w: ConformerLayerWeights, layer: Int, rows: Int, segments: [PassSegment],
                        config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let x = s.hidden.base, h = c.hiddenSize
        var start = ContinuousClock.now
        feedForward(w.feedForward1, rows: rows, config: c, scratch: s)
        s.profile?.add(.feedForward, since: start)
        attention(w, layer: layer, rows: rows, segments: segments, config: c, scratch: s)
        start = ContinuousClock.now
        lightConv(w.lightConv, layer: layer, rows: rows, segments: segments, config: c, scratch: s)
        s.profile?.add(.lightConv, since: start)
        start = ContinuousClock.now
        feedForward(w.feedForward2, rows: rows, config: c, scratch: s)
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            let xr = x + range.lowerBound * h
            clip(xr, range.count * h, c)
            VectorOps.rmsNorm(xr, rows: range.count, width: h, weight: w.outputNorm.base, eps: fixedNormEps, into: xr)
        }
        s.profile?.add(.feedForward, since: start)
    }

    /// `clamp(±gradient_clipping)`: a no-op for finite float32 activations at the released 1e10, kept for fidelity.
    private static func clip(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ c: Gemma4AudioConfiguration) {
        let bound = min(c.gradientClipping, .greatestFiniteMagnitude)
        VectorOps.clamp(x, count: count, lower: -bound, upper: bound)
    }

    /// `out = RMSNorm(clip(x)) · weight` for rows `range` (`x` and `out` `(R, width)`; they may alias).
    private static func normClipped(_ x: UnsafePointer<Float>, _ range: Range<Int>, width: Int,
                                    weight: UnsafePointer<Float>, eps: Float, config c: Gemma4AudioConfiguration,
                                    into out: UnsafeMutablePointer<Float>) {
        let source = x + range.lowerBound * width, target = out + range.lowerBound * width
        if UnsafePointer(target) != source { target.update(from: source, count: range.count * width) }
        clip(target, range.count * width, c)
        VectorOps.rmsNorm(target, rows: range.count, width: width, weight: weight, eps: eps, into: target)
    }

    // MARK: Feed-forward (macaron half-step)

    private static func feedForward(_ w: FeedForwardWeights, rows: Int, config c: Gemma4AudioConfiguration,
                                    scratch s: EncoderScratch) {
        let h = c.hiddenSize
        let x = s.hidden.base, normed = s.normed.base, wide = s.wide.base, branch = s.branch.base
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            normClipped(x, range, width: h, weight: w.preNorm.base, eps: fixedNormEps, config: c, into: normed)
        }
        w.up.apply(normed, rows: rows, scratch: s, into: wide)       // (R, 4H)
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            VectorOps.silu(wide + range.lowerBound * 4 * h, count: range.count * 4 * h)
        }
        w.down.apply(wide, rows: rows, scratch: s, into: branch)    // (R, H)
        let scale = c.residualWeight
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            normClipped(branch, range, width: h, weight: w.postNorm.base, eps: fixedNormEps, config: c, into: branch)
            for i in range.lowerBound * h..<range.upperBound * h { x[i] += branch[i] * scale }
        }
    }

    // MARK: Attention

    private static func attention(_ w: ConformerLayerWeights, layer: Int, rows: Int, segments: [PassSegment],
                                  config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let a = w.attention
        let h = c.hiddenSize, headDim = c.headDimension, window = c.attentionWindow
        var start = ContinuousClock.now
        let x = s.hidden.base, normed = s.normed.base
        let q = s.query.base, k = s.key.base, v = s.value.base, out = s.attended.base
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            normClipped(x, range, width: h, weight: w.preAttentionNorm.base, eps: fixedNormEps, config: c,
                        into: normed)
        }
        a.project(normed, rows: rows, scratch: s, query: q, key: k, value: v)
        let keyScale = Float(log(1 + M_E) / log(2.0))
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            for r in range {
                let qr = q + r * h, kr = k + r * h
                for head in 0..<c.headCount {
                    for e in 0..<headDim { qr[head * headDim + e] *= a.queryScale[e] }
                }
                for i in 0..<h { kr[i] *= keyScale }
            }
        }

        s.profile?.add(.attentionProjections, since: start)
        start = ContinuousClock.now
        let cap = c.attentionLogitCap
        for segment in segments {
            // Context = this stream's cached keys/values, then the segment's own: context row j is token
            // (first − cached + j), so query i (context row cached + i) sees rows cached + i − d for d < window.
            let cached = segment.stream.layerCaches[layer].count
            let cache = segment.stream.layerCaches[layer]
            let keys = s.keyContext.base, values = s.valueContext.base
            keys.update(from: cache.keys.base, count: cached * h)
            values.update(from: cache.values.base, count: cached * h)
            (keys + cached * h).update(from: k + segment.start * h, count: segment.count * h)
            (values + cached * h).update(from: v + segment.start * h, count: segment.count * h)

            // Query rows do not depend on one another: split them over the threads, each with its own logits.
            s.threads.forEachRange(segment.count, grain: 2) { tokens in
                for i in tokens {
                    let logits = s.logits.base + (segment.start + i) * window
                    let row = cached + i
                    let reach = min(window, row + 1)          // distances 0 ..< reach exist
                    let qRow = q + (segment.start + i) * h
                    let oRow = out + (segment.start + i) * h
                    for head in 0..<c.headCount {
                        let offset = head * headDim
                        let qHead = qRow + offset
                        var maxLogit = -Float.infinity
                        for d in 0..<reach {
                            let content = VectorOps.dot(qHead, keys + (row - d) * h + offset, count: headDim)
                            let position = VectorOps.dot(qHead, a.relativeKeys.base + d * h + offset,
                                                         count: headDim)
                            let logit = cap * tanhf((content + position) / cap)
                            logits[d] = logit
                            maxLogit = max(maxLogit, logit)
                        }
                        var total: Float = 0
                        for d in 0..<reach {
                            logits[d] = expf(logits[d] - maxLogit)
                            total += logits[d]
                        }
                        let oHead = oRow + offset
                        for e in 0..<headDim { oHead[e] = 0 }
                        for d in 0..<reach {
                            let p = logits[d] / total
                            let vHead = values + (row - d) * h + offset
                            for e in 0..<headDim { oHead[e] += p * vHead[e] }
                        }
                    }
                }
            }
            // Keep the newest window − 1 tokens.
            let total = cached + segment.count
            let keep = min(window - 1, total)
            cache.keys.base.update(from: keys + (total - keep) * h, count: keep * h)
            cache.values.base.update(from: values + (total - keep) * h, count: keep * h)
            segment.stream.layerCaches[layer].count = keep
        }

        s.profile?.add(.attentionCore, since: start)
        start = ContinuousClock.now
        let branch = s.branch.base
        a.post.apply(out, rows: rows, scratch: s, into: branch)
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            normClipped(branch, range, width: h, weight: w.postAttentionNorm.base, eps: fixedNormEps, config: c,
                        into: branch)
            for i in range.lowerBound * h..<range.upperBound * h { x[i] += branch[i] }
        }
        s.profile?.add(.attentionProjections, since: start)
    }

    // MARK: Light convolution

    private static func lightConv(_ w: LightConvWeights, layer: Int, rows: Int, segments: [PassSegment],
                                  config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let h = c.hiddenSize, taps = c.convKernelSize
        let x = s.hidden.base, normed = s.normed.base, glu = s.wide.base, conv = s.attended.base
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            VectorOps.rmsNorm(x + range.lowerBound * h, rows: range.count, width: h, weight: w.preNorm.base,
                              eps: c.rmsNormEps, into: normed + range.lowerBound * h)
        }
        w.start.apply(normed, rows: rows, scratch: s, into: glu)     // (R, 2H)
        // GLU: value half times sigmoid of the gate half, packed into the first H columns of each row.
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            VectorOps.glu(glu + range.lowerBound * 2 * h, rows: range.count, width: h)
        }
        for segment in segments {
            let cache = segment.stream.layerCaches[layer]
            let context = s.convContext.base                                                // (K−1 + n, H)
            context.update(from: cache.convRows.base, count: (taps - 1) * h)
            for i in 0..<segment.count {
                (context + (taps - 1 + i) * h).update(from: glu + (segment.start + i) * 2 * h, count: h)
            }
            s.threads.forEachRange(segment.count, grain: rowGrain) { tokens in
                for i in tokens {
                    let dst = conv + (segment.start + i) * h
                    for ch in 0..<h { dst[ch] = 0 }
                    for j in 0..<taps {
                        let src = context + (i + j) * h
                        let tap = w.depthwise.base + j * h
                        for ch in 0..<h { dst[ch] += tap[ch] * src[ch] }
                    }
                }
            }
            cache.convRows.base.update(from: context + segment.count * h, count: (taps - 1) * h)
        }
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            let rowsStart = conv + range.lowerBound * h
            normClipped(conv, range, width: h, weight: w.convNorm.base, eps: c.rmsNormEps, config: c, into: conv)
            VectorOps.silu(rowsStart, count: range.count * h)
        }
        let branch = s.branch.base
        w.end.apply(conv, rows: rows, scratch: s, into: branch)
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            for i in range.lowerBound * h..<range.upperBound * h { x[i] += branch[i] }
        }
    }
}
