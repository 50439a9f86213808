import Kernels

/// One Conformer layer's memory of the past for one stream: the keys and values of the last `window − 1` tokens
/// (all a new query can reach besides itself) and the last `K − 1` GLU rows the causal depthwise conv reads.
/// Constant size, however long the stream runs.
///
/// A value with one owner: its memory is read through `UnsafePointer`s and written only by its `mutating` methods,
/// so a layer updates it only when handed it `inout` (never through a copy), and a copy is never written.
struct LayerState {
    private let keyRows: FloatBuffer     // (window − 1, H)  k·k_scale of the newest `keyCount` tokens, oldest first
    private let valueRows: FloatBuffer   // (window − 1, H)
    private let convRows: FloatBuffer    // (K − 1, H)  GLU outputs of the last K − 1 tokens; zeros before the start
    /// Tokens whose keys and values are held, ≤ window − 1.
    private(set) var keyCount = 0

    init(config c: Gemma4AudioConfiguration) {
        keyRows = FloatBuffer(count: (c.attentionWindow - 1) * c.hiddenSize)
        valueRows = FloatBuffer(count: (c.attentionWindow - 1) * c.hiddenSize)
        convRows = FloatBuffer(count: (c.convKernelSize - 1) * c.hiddenSize)
    }

    var keys: UnsafePointer<Float> { UnsafePointer(keyRows.base) }          // (keyCount, H)
    var values: UnsafePointer<Float> { UnsafePointer(valueRows.base) }      // (keyCount, H)
    var convContext: UnsafePointer<Float> { UnsafePointer(convRows.base) }  // (K − 1, H)

    /// Keeps the newest `keep` of `total` context rows `(total, H)` as the cached keys and values.
    mutating func keepKeys(_ keys: UnsafePointer<Float>, values: UnsafePointer<Float>, total: Int, keep: Int,
                           width h: Int) {
        keyRows.base.update(from: keys + (total - keep) * h, count: keep * h)
        valueRows.base.update(from: values + (total - keep) * h, count: keep * h)
        keyCount = keep
    }

    /// Keeps `rows` `(K − 1, H)`, the newest GLU rows, as the conv's left context.
    mutating func keepConvRows(_ rows: UnsafePointer<Float>) {
        convRows.base.update(from: rows, count: convRows.count)
    }

    mutating func reset() {
        keyCount = 0
        keyRows.buffer.update(repeating: 0)
        valueRows.buffer.update(repeating: 0)
        convRows.buffer.update(repeating: 0)
    }
}
