import Kernels

/// One Conformer layer's memory of the past for one stream: the keys and values of the last `window − 1` tokens
/// (all a new query can reach besides itself) and the last `K − 1` GLU rows the causal depthwise conv reads.
/// Constant size, however long the stream runs.
struct LayerCache {
    let keys: FloatBuffer        // (window − 1, H)  k·k_scale of the newest `count` tokens, oldest first
    let values: FloatBuffer      // (window − 1, H)
    var count = 0                // cached tokens, ≤ window − 1
    let convRows: FloatBuffer    // (K − 1, H)  GLU outputs of the last K − 1 tokens; zeros before the stream's start

    init(config c: Gemma4AudioConfiguration) {
        keys = FloatBuffer(count: (c.attentionWindow - 1) * c.hiddenSize)
        values = FloatBuffer(count: (c.attentionWindow - 1) * c.hiddenSize)
        convRows = FloatBuffer(count: (c.convKernelSize - 1) * c.hiddenSize)
    }

    mutating func reset() {
        count = 0
        keys.buffer.update(repeating: 0)
        values.buffer.update(repeating: 0)
        convRows.buffer.update(repeating: 0)
    }
}
