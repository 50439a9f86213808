import Checkpoint
import Kernels

/// Silero VAD v6's 16 kHz weights, read-only after loading and shareable between any number of streams.
///
/// The file is the one `tools/vad/convert_silero.py` writes (`models/silero-vad/silero_vad_16k_v6.safetensors`):
/// exactly the 15 tensors below, each with exactly its shape, or loading fails naming the tensor. Convolutions are
/// held as `PackedMatrix` rows over their taps, tap-major (`[out, tap·in + c]`), so a convolution over a time-major
/// `(frames, channels)` buffer is one `Matmul.linear` with an input stride of `stride · channels`.
public final class SileroVADWeights: Sendable {
    /// `stft.forward_basis` [258, 1, 256]: 129 real rows, then 129 imaginary.
    let stftBasis: PackedMatrix              // (258, 256)
    /// `encoder.{i}.weight` [out, in, 3] as `(out, 3·in)`, tap-major.
    let encoderWeights: [PackedMatrix]       // (128, 3·129) (64, 3·128) (64, 3·64) (128, 3·64)
    /// `encoder.{i}.bias`.
    let encoderBiases: [WeightBuffer]        // (128,) (64,) (64,) (128,)
    /// `lstm.weight_ih`, `lstm.weight_hh`: gates i, f, g, o.
    let lstmInputWeight: PackedMatrix        // (512, 128)
    let lstmHiddenWeight: PackedMatrix       // (512, 128)
    /// `lstm.bias_ih`, `lstm.bias_hh`.
    let lstmInputBias: WeightBuffer          // (512,)
    let lstmHiddenBias: WeightBuffer         // (512,)
    /// `decoder.weight` [1, 128, 1], `decoder.bias` [1].
    let decoderWeight: WeightBuffer          // (128,)
    let decoderBias: Float

    /// The encoder's convolutions: (input channels, output channels, stride); kernel 3, padding 1 each.
    static let encoderLayers = [(129, 128, 1), (128, 64, 2), (64, 64, 2), (64, 128, 1)]

    /// Every tensor a file must hold, with its shape.
    public static let tensorShapes: [String: [Int]] = {
        let g = SileroVADGeometry.self
        var shapes: [String: [Int]] = [
            "stft.forward_basis": [2 * g.bins, 1, g.fftSize],
            "lstm.weight_ih": [4 * g.hiddenSize, g.hiddenSize],
            "lstm.weight_hh": [4 * g.hiddenSize, g.hiddenSize],
            "lstm.bias_ih": [4 * g.hiddenSize],
            "lstm.bias_hh": [4 * g.hiddenSize],
            "decoder.weight": [1, g.hiddenSize, 1],
            "decoder.bias": [1],
        ]
        for (i, (input, output, _)) in encoderLayers.enumerated() {
            shapes["encoder.\(i).weight"] = [output, input, 3]
            shapes["encoder.\(i).bias"] = [output]
        }
        return shapes
    }()

    /// Loads the safetensors file at `path`.
    /// - Throws: ``SileroVADError`` naming the file, and the tensor when one is at fault.
    public convenience init(path: String) throws {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch { throw SileroVADError("\(error)") }
        try self.init(source: file, sourceName: path)
    }

    /// Binds the weights in `source` strictly: a tensor that is missing, of another shape, or not one of
    /// ``tensorShapes`` is an error naming it; `sourceName` labels the errors.
    public init(source: any TensorSource, sourceName: String) throws {
        let g = SileroVADGeometry.self
        func read(_ name: String) throws -> [Float] {
            let shape = Self.tensorShapes[name]!
            guard let info = source.info(name) else {
                throw SileroVADError.tensor(sourceName, name, "missing (expected shape \(shape))")
            }
            guard info.shape == shape else {
                throw SileroVADError.tensor(sourceName, name, "shape \(info.shape), expected \(shape)")
            }
            return try source.floats(name)
        }
        if let unexpected = source.tensorNames.first(where: { Self.tensorShapes[$0] == nil }) {
            throw SileroVADError.tensor(sourceName, unexpected, "unexpected tensor: not part of Silero VAD v6 16 kHz")
        }
        stftBasis = try read("stft.forward_basis").withUnsafeBufferPointer {
            PackedMatrix($0.baseAddress!, outFeatures: 2 * g.bins, inFeatures: g.fftSize)
        }
        var weights: [PackedMatrix] = [], biases: [WeightBuffer] = []
        for (i, (input, output, _)) in Self.encoderLayers.enumerated() {
            let torchLayout = try read("encoder.\(i).weight")   // [out, in, 3]
            var tapMajor = [Float](repeating: 0, count: torchLayout.count)   // [out, 3, in]
            for o in 0..<output {
                for c in 0..<input {
                    for k in 0..<3 { tapMajor[(o * 3 + k) * input + c] = torchLayout[(o * input + c) * 3 + k] }
                }
            }
            weights.append(tapMajor.withUnsafeBufferPointer {
                PackedMatrix($0.baseAddress!, outFeatures: output, inFeatures: 3 * input)
            })
            biases.append(WeightBuffer(try read("encoder.\(i).bias")))
        }
        encoderWeights = weights
        encoderBiases = biases
        func packed(_ name: String) throws -> PackedMatrix {
            try read(name).withUnsafeBufferPointer {
                PackedMatrix($0.baseAddress!, outFeatures: 4 * g.hiddenSize, inFeatures: g.hiddenSize)
            }
        }
        lstmInputWeight = try packed("lstm.weight_ih")
        lstmHiddenWeight = try packed("lstm.weight_hh")
        lstmInputBias = WeightBuffer(try read("lstm.bias_ih"))
        lstmHiddenBias = WeightBuffer(try read("lstm.bias_hh"))
        decoderWeight = WeightBuffer(try read("decoder.weight"))
        decoderBias = try read("decoder.bias")[0]
    }
}
