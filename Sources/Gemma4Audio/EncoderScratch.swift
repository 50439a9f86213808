import Kernels

/// Work space for one compute thread: every intermediate of a Conformer pass over up to `capacity` stacked token
/// rows. Allocated once: an f32 pass on one product thread then allocates nothing; on several, each row loop split
/// over them boxes its closure once (docs/streaming.md, "Allocation in steady state"; `AllocationTests`).
public final class EncoderScratch {
    /// Rows one pass can hold. In bf16 precision a whole number of 12-row tiles: a stream's block occupies the
    /// tiles its token indices fall in (tokens 12k … 12k+11 share a tile), so a 12-token block aligned to a
    /// multiple of 12 — the default streaming block, and every offline pass — takes exactly one tile per 12 tokens.
    public let capacity: Int
    /// The threads this worker's products split their columns over (results do not depend on their number).
    public let threads: MatmulThreads

    let subsampled: FloatBuffer      // (R, F1·C1)  SSCP output rows, stacked
    let hidden: FloatBuffer          // (R, H)      x, the residual stream
    let normed: FloatBuffer          // (R, H)
    let clampedInput: FloatBuffer    // (R, 4H)     a ClippableLinear's clamped input
    let wide: FloatBuffer            // (R, 4H)     FFN hidden; GLU input uses (R, 2H) of it
    let query: FloatBuffer           // (R, H)
    let key: FloatBuffer             // (R, H)
    let value: FloatBuffer           // (R, H)
    let attended: FloatBuffer        // (R, H)      attention output before `post`
    let branch: FloatBuffer          // (R, H)      a block's output before the residual add
    let keyContext: FloatBuffer      // (window − 1 + R, H)   cached keys, then this pass's
    let valueContext: FloatBuffer    // (window − 1 + R, H)
    let convContext: FloatBuffer     // (K − 1 + R, H)        cached GLU rows, then this pass's
    let logits: FloatBuffer          // (R, window)   a query row's attention logits
    let encoded: FloatBuffer         // (R, P)      output_proj result
    let embedderInput: FloatBuffer   // (R, P)      scale-free RMSNorm of it
    let embedded: FloatBuffer        // (R, D)
    /// bf16 precision only: GEMM inputs split into high and low bf16 parts, (2R, widest) bits…
    let bf16Input: UnsafeMutablePointer<UInt16>
    /// …and the partial products before they are summed, (3R, widest).
    let splitOutput: UnsafeMutablePointer<Float>
    /// fast precision only: a product's input rounded to bf16 pairs (high and low parts), (R, widest + 1) words.
    let bf16Words: UnsafeMutablePointer<UInt32>
    /// The streams' rows in the current pass, one per stream; empty between passes, its capacity kept.
    private var segments: [PassSegment] = []
    private var stream: OneDNNStream?
    /// Time per stage, accumulated over passes while set (nil: not measured).
    public var profile: PassProfile?

    /// Work space for passes of up to `capacity` tokens (one stream's block, or several streams' blocks together),
    /// whose products run on `threads` threads (the caller and `threads` − 1 workers).
    public init(model: Gemma4AudioModel, capacity: Int = 48, threads: Int = 1) {
        let c = model.configuration
        // bf16: token t sits at row t mod 12 of a tile (see `ComputePrecision.rowTile`), so a block of `capacity`
        // tokens starting anywhere spans at most paddedRows(capacity + 11) rows.
        let tile = model.precision.rowTile
        self.capacity = model.precision.paddedRows(max(1, capacity) + tile - 1)
        self.threads = MatmulThreads(count: threads)
        let (r, h) = (self.capacity, c.hiddenSize)
        subsampled = FloatBuffer(count: r * c.sscpOutputWidth)
        hidden = FloatBuffer(count: r * h)
        normed = FloatBuffer(count: r * h)
        clampedInput = FloatBuffer(count: r * 4 * h)
        wide = FloatBuffer(count: r * 4 * h)
        query = FloatBuffer(count: r * h)
        key = FloatBuffer(count: r * h)
        value = FloatBuffer(count: r * h)
        attended = FloatBuffer(count: r * h)
        branch = FloatBuffer(count: r * h)
        keyContext = FloatBuffer(count: (c.attentionWindow - 1 + r) * h)
        valueContext = FloatBuffer(count: (c.attentionWindow - 1 + r) * h)
        convContext = FloatBuffer(count: (c.convKernelSize - 1 + r) * h)
        logits = FloatBuffer(count: r * c.attentionWindow)
        encoded = FloatBuffer(count: r * c.outputProjectionSize)
        embedderInput = FloatBuffer(count: r * c.outputProjectionSize)
        embedded = FloatBuffer(count: r * c.textHiddenSize)
        let widest = max(4 * h, c.sscpOutputWidth, c.outputProjectionSize, c.textHiddenSize)
        bf16Input = .allocate(capacity: model.precision == .bf16 ? 2 * r * widest : 1)
        splitOutput = .allocate(capacity: model.precision == .bf16 ? 3 * r * widest : 1)
        bf16Words = .allocate(capacity: model.precision == .fast
                                  ? BF16Matmul.scratchWords(rows: r, inFeatures: widest, split: true) : 1)
    }

    deinit { bf16Input.deallocate(); splitOutput.deallocate(); bf16Words.deallocate() }

    /// The segment list for a pass, empty, with the capacity earlier passes gave it.
    func takeSegments() -> [PassSegment] {
        var taken: [PassSegment] = []
        swap(&taken, &segments)
        return taken
    }

    /// Gives the segment list back after a pass, emptied (so it keeps no stream alive) but keeping its capacity.
    func returnSegments(_ used: inout [PassSegment]) {
        used.removeAll(keepingCapacity: true)
        swap(&used, &segments)
    }

    /// This worker's oneDNN stream, made on first use (bf16 precision only).
    func oneDNNStream() throws -> OneDNNStream {
        if let stream { return stream }
        let made = try OneDNNStream(engine: OneDNNEngine.shared.get())
        stream = made
        return made
    }
}
