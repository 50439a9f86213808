#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import Kernels
import NumberBits

/// Binds the seed's state_dict strictly: every tensor the encoder reads must exist with exactly its shape and hold
/// only finite values, and after binding every tensor under the encoder's prefix must have been read (a full
/// `Echo` state_dict's `decoder.*` is outside it). Errors name the file and the tensor.
///
/// Without a source it makes every tensor up instead: deterministic random weights for `random:echo` (demos and
/// benchmarks), PyTorch-like scales — linears and convolutions ~ N(0, 1/fan_in), biases ~ N(0, 0.02²), norm
/// scales 1 — and the seed's own initial `inv_freq`, zero rotary biases, sinusoidal positions and `blend_sw` 0.5.
struct EchoWeightBinder {
    let source: (any TensorSource)?
    let sourceName: String
    let prefix: String
    let configuration: EchoConfiguration
    let seed: UInt64
    private(set) var used: Set<String> = []
    private(set) var parameterCount = 0

    init(source: any TensorSource, sourceName: String, configuration: EchoConfiguration) {
        self.source = source
        self.sourceName = sourceName
        prefix = EchoWeights.prefix(of: source)
        self.configuration = configuration
        seed = 0
    }

    init(randomSeed: UInt64, configuration: EchoConfiguration) {
        source = nil
        sourceName = "random weights (seed \(randomSeed))"
        prefix = ""
        self.configuration = configuration
        seed = randomSeed
    }

    /// The tensor `prefix + name` as float32, its shape and values checked.
    mutating func tensor(_ name: String, _ shape: [Int]) throws -> WeightBuffer {
        let count = shape.reduce(1, *)
        parameterCount += count
        guard let source else { return random(name, shape: shape) }
        let key = prefix + name
        guard let info = source.info(key) else { throw EchoError.missingTensor(sourceName, key, expected: shape) }
        guard info.shape == shape || (shape == [] && info.shape == [1]) else {
            throw EchoError.wrongShape(sourceName, key, expected: shape, actual: info.shape)
        }
        let buffer = try WeightBuffer(count: count) { try source.read(key, into: $0) }
        if let bad = (0..<count).first(where: { !buffer[$0].isFinite }) {
            throw EchoError.nonFinite(sourceName, key, index: bad, value: buffer[bad])
        }
        used.insert(key)
        return buffer
    }

    /// Fails on the first tensor under the prefix that binding did not read.
    func requireAllUsed() throws {
        guard let source else { return }
        let unused = source.tensorNames.filter { $0.hasPrefix(prefix) && !used.contains($0) }
        if let first = unused.first { throw EchoError.unusedTensor(sourceName, first, others: unused.count - 1) }
    }

    private func random(_ name: String, shape: [Int]) -> WeightBuffer {
        let count = shape.reduce(1, *)
        let c = configuration
        let half = c.headDimension / 2
        if name == "positional_embedding" { return EchoWeightBinder.sinusoids(length: c.context, channels: c.width) }
        if name == "blend_sw" || name.hasSuffix("blend_xa") { return WeightBuffer([0.5]) }
        if name.hasSuffix("rotary.inv_freq") {
            return WeightBuffer((0..<half).map { Float(1 / pow(10_000, Double(2 * $0) / Double(2 * half))) })
        }
        if name.hasSuffix("rotary.bias") { return WeightBuffer(count: count) { _ in } }
        let (scale, offset): (Float, Float)
        if name.hasSuffix("norm.weight") || name.hasSuffix("ln_enc.weight") || name.hasSuffix("lna.weight")
            || name.hasSuffix("lnc.weight") {
            (scale, offset) = (0, 1)
        } else if name.hasSuffix(".bias") {
            (scale, offset) = (0.02, 0)
        } else {
            (scale, offset) = (1 / Float(shape.dropFirst().reduce(1, *)).squareRoot(), 0)
        }
        var generator = SplitMix64(seed: seed ^ fnv1a64(name))
        return WeightBuffer(count: count) { buffer in
            var i = 0
            while i < count {
                let (a, b) = generator.nextGaussianPair()
                buffer[i] = offset + scale * a
                if i + 1 < count { buffer[i + 1] = offset + scale * b }
                i += 2
            }
        }
    }

    /// The seed's `sinusoids(length, channels)`: sines then cosines of
    /// `t · exp(−i · ln(10000) / (channels/2 − 1))` in float32, the buffer a checkpoint stores as
    /// `positional_embedding`.
    static func sinusoids(length: Int, channels: Int) -> WeightBuffer {
        let half = channels / 2
        let increment = log(10_000.0) / Double(half - 1)
        let inverse = (0..<half).map { Float(exp(Double(Float(-increment) * Float($0)))) }
        return WeightBuffer(count: length * channels) { out in
            for t in 0..<length {
                for i in 0..<half {
                    let x = Float(t) * inverse[i]
                    out[t * channels + i] = Float(sin(Double(x)))
                    out[t * channels + half + i] = Float(cos(Double(x)))
                }
            }
        }
    }
}
