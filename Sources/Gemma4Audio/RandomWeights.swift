import Kernels
import NumberBits

/// Deterministic random weights for a model of any size: what the demo and the benchmarks run when no checkpoint
/// is at hand. Embeddings from such a model mean nothing; they only cost what real ones cost.
///
/// Each tensor draws from its own stream (seed ⊕ a hash of its checkpoint key), so a tensor's values do not depend
/// on load order. Scales keep activations O(1) through any depth: linear weights ~ N(0, 1/in), norm scales 1 ± 0.15,
/// clamp bounds ±1e4 (finite, so the clamp code runs, but never binding). Values are rounded to bf16, as released
/// Gemma 4 checkpoints store them, so the model costs in memory and time what a real one does.
enum RandomWeights {
    static func tensor(_ name: String, shape: [Int], seed: UInt64) -> WeightBuffer {
        WeightBuffer(count: shape.reduce(1, *)) { fill($0, name: name, shape: shape, seed: seed) }
    }

    private static func fill(_ buffer: UnsafeMutableBufferPointer<Float>, name: String, shape: [Int],
                             seed: UInt64) {
        let count = buffer.count
        var generator = SplitMix64(seed: seed ^ fnv1a64(name))
        let leaf = name.split(separator: ".").last.map(String.init) ?? name
        switch leaf {
        case "input_min", "output_min": buffer[0] = -1e4; return
        case "input_max", "output_max": buffer[0] = 1e4; return
        default: break
        }
        let (scale, offset): (Float, Float)
        if name.hasSuffix("layer0.conv.weight") { (scale, offset) = (1 / 3, 0) }
        else if name.hasSuffix("layer1.conv.weight") { (scale, offset) = (1 / Float(shape[1] * 9).squareRoot(), 0) }
        else if name.hasSuffix("per_dim_scale") { (scale, offset) = (0.5, 1) }
        else if name.hasSuffix("depthwise_conv1d.weight") { (scale, offset) = (1 / Float(shape[2]).squareRoot(), 0) }
        else if name.hasSuffix(".bias") { (scale, offset) = (0.1, 0) }
        else if shape.count == 1 { (scale, offset) = (0.15, 1) }                         // norm scales
        else { (scale, offset) = (1 / Float(shape[shape.count - 1]).squareRoot(), 0) }   // [out, in] linears
        var i = 0
        while i < count {
            let (a, b) = generator.nextGaussianPair()
            buffer[i] = VectorOps.roundedToBFloat16(offset + scale * a)
            if i + 1 < count { buffer[i + 1] = VectorOps.roundedToBFloat16(offset + scale * b) }
            i += 2
        }
    }
}
