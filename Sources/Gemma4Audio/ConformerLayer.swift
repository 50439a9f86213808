#if canImport(Glibc)
import Glibc
#endif
import Kernels

/// Rows of one stream inside a batched pass: rows `[start, start + count)` of the scratch buffers are this
/// stream's next `count` tokens, and `layers` is the stream's per-layer state, moved out of the stream for the pass
/// (sherpa-onnx's stacked states) and moved back with its result.
struct PassSegment {
    let stream: EncoderStream
    let start: Int
    let count: Int
    var layers: [LayerState]
}

/// One Conformer block (spec §3.4) over the stacked rows of a pass. Projections run once over all rows; attention
/// and the depthwise conv run per stream against that stream's state for this layer, taken `inout` and updated.
enum ConformerLayer {
    /// transformers builds the FFN norms and the block's own norms with `Gemma4RMSNorm(hidden_size)`, whose eps is
    /// its default 1e-6, not `rms_norm_eps` (only the light-conv norms and the embedder norm take the config value).
    static let fixedNormEps: Float = 1e-6

    /// Rows per thread below which row-wise work stays on one thread (waking a worker costs more).
    static let rowGrain = 4

    /// Layer `layer` over `rows` stacked rows of `s.hidden` `(R, H)`, in place; each segment's `layers[layer]` is
    /// read and advanced past the segment's tokens.
    static func forward(_ w: ConformerLayerWeights, layer: Int, rows: Int, segments: inout [PassSegment],
                        config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let x = s.hidden.base, h = c.hiddenSize
        var start = ContinuousClock.now
        feedForward(w.feedForward1, rows: rows, config: c, scratch: s)
        s.profile?.add(.feedForward, since: start)
        attention(w, layer: layer, rows: rows, segments: &segments, config: c, scratch: s)
        start = ContinuousClock.now
        lightConv(w.lightConv, layer: layer, rows: rows, segments: &segments, config: c, scratch: s)
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

    private static func attention(_ w: ConformerLayerWeights, layer: Int, rows: Int, segments: inout [PassSegment],
                                  config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let a = w.attention
        let h = c.hiddenSize, headDim = c.headDimension
        var start = ContinuousClock.now
        let x = s.hidden.base, normed = s.normed.base
        let q = s.query.base, k = s.key.base, v = s.value.base
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
        // Indexed, not iterated: a copy of a segment would share its `layers` and make the update below copy them.
        for i in segments.indices {
            attendSegment(a, first: segments[i].start, count: segments[i].count, state: &segments[i].layers[layer],
                          config: c, scratch: s)
        }

        s.profile?.add(.attentionCore, since: start)
        start = ContinuousClock.now
        let branch = s.branch.base
        a.post.apply(s.attended.base, rows: rows, scratch: s, into: branch)
        s.threads.forEachRange(rows, grain: rowGrain) { range in
            normClipped(branch, range, width: h, weight: w.postAttentionNorm.base, eps: fixedNormEps, config: c,
                        into: branch)
            for i in range.lowerBound * h..<range.upperBound * h { x[i] += branch[i] }
        }
        s.profile?.add(.attentionProjections, since: start)
    }

    /// Attention of one stream's `count` query rows from row `first` of `s.query` into `s.attended`, against its
    /// cached keys and values and its own; then `state` keeps the newest window − 1.
    private static func attendSegment(_ a: AttentionWeights, first: Int, count: Int, state: inout LayerState,
                                      config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let h = c.hiddenSize, headDim = c.headDimension, window = c.attentionWindow, cap = c.attentionLogitCap
        let q = s.query.base, k = s.key.base, v = s.value.base, out = s.attended.base
        // Context = this stream's cached keys/values, then the segment's own: context row j is token
        // (first − cached + j), so query i (context row cached + i) sees rows cached + i − d for d < window.
        let cached = state.keyCount
        let keys = s.keyContext.base, values = s.valueContext.base      // (cached + count, H)
        keys.update(from: state.keys, count: cached * h)
        values.update(from: state.values, count: cached * h)
        (keys + cached * h).update(from: k + first * h, count: count * h)
        (values + cached * h).update(from: v + first * h, count: count * h)

        // Query rows do not depend on one another: split them over the threads, each with its own logits.
        s.threads.forEachRange(count, grain: 2) { tokens in
            for i in tokens {
                let logits = s.logits.base + (first + i) * window
                let row = cached + i
                let reach = min(window, row + 1)          // distances 0 ..< reach exist
                let qRow = q + (first + i) * h
                let oRow = out + (first + i) * h
                for head in 0..<c.headCount {
                    let offset = head * headDim
                    let qHead = qRow + offset
                    var maxLogit = -Float.infinity
                    for d in 0..<reach {
                        let content = VectorOps.dot(qHead, keys + (row - d) * h + offset, count: headDim)
                        let position = VectorOps.dot(qHead, a.relativeKeys.base + d * h + offset, count: headDim)
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
        let total = cached + count
        state.keepKeys(keys, values: values, total: total, keep: min(window - 1, total), width: h)
    }

    // MARK: Light convolution

    private static func lightConv(_ w: LightConvWeights, layer: Int, rows: Int, segments: inout [PassSegment],
                                  config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let h = c.hiddenSize
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
        for i in segments.indices {   // indexed: see `attention`
            convolveSegment(w, first: segments[i].start, count: segments[i].count,
                            state: &segments[i].layers[layer], config: c, scratch: s)
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

    /// The causal depthwise conv of one stream's `count` GLU rows from row `first` (in the first H columns of
    /// `s.wide` `(R, 2H)`) into `s.attended`, after its K − 1 previous rows; then `state` keeps the newest K − 1.
    private static func convolveSegment(_ w: LightConvWeights, first: Int, count: Int, state: inout LayerState,
                                        config c: Gemma4AudioConfiguration, scratch s: EncoderScratch) {
        let h = c.hiddenSize, taps = c.convKernelSize
        let glu = s.wide.base, conv = s.attended.base
        let context = s.convContext.base                                                    // (K−1 + count, H)
        context.update(from: state.convContext, count: (taps - 1) * h)
        for i in 0..<count {
            (context + (taps - 1 + i) * h).update(from: glu + (first + i) * 2 * h, count: h)
        }
        s.threads.forEachRange(count, grain: rowGrain) { tokens in
            for i in tokens {
                let dst = conv + (first + i) * h
                for ch in 0..<h { dst[ch] = 0 }
                for j in 0..<taps {
                    let src = context + (i + j) * h
                    let tap = w.depthwise.base + j * h
                    for ch in 0..<h { dst[ch] += tap[ch] * src[ch] }
                }
            }
        }
        state.keepConvRows(context + count * h)
    }
}
