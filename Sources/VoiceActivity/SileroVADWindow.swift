import Kernels
#if canImport(Glibc)
import Glibc
#endif

extension SileroVADWeights {
    /// One window: the speech probability of `scratch.signal[0..<576]` (64 context samples, then the window), with
    /// the LSTM state `hidden`, `cell` (128 each) updated in place. As silero-vad's `VADRNNJIT.forward`: reflect-pad
    /// 64 on the right, STFT magnitude, four Conv1d + ReLU, LSTM cell, ReLU, 1×1 Conv1d, sigmoid (the mean over
    /// its single frame is that frame).
    func probability(scratch s: SileroVADScratch, hidden: UnsafeMutablePointer<Float>,
                     cell: UnsafeMutablePointer<Float>) -> Float {
        let g = SileroVADGeometry.self
        let signal = s.signal.base
        for i in 0..<g.reflectSamples { signal[g.inputSamples + i] = signal[g.inputSamples - 2 - i] }

        // STFT as a strided product: frame t is signal[128t ..< 128t + 256].
        Matmul.linear(signal, rows: g.frames, inputStride: g.hop, weight: stftBasis, into: s.spectrum.base)
        let magnitude = s.encoderInputs[0].base + g.bins      // interior frames of layer 0's padded input
        for t in 0..<g.frames {
            let row = s.spectrum.base + t * 2 * g.bins
            for f in 0..<g.bins {
                let re = row[f], im = row[g.bins + f]
                magnitude[t * g.bins + f] = (re * re + im * im).squareRoot()
            }
        }

        // Conv1d k3 pad 1 over the padded (frames + 2, channels) input: output frame t reads padded frames
        // stride·t … stride·t + 2, one row of 3·channels at offset stride·t·channels.
        var frames = g.frames
        for (layer, (channels, outChannels, stride)) in Self.encoderLayers.enumerated() {
            let outFrames = (frames - 1) / stride + 1
            let isLast = layer == Self.encoderLayers.count - 1
            let out = isLast ? s.encoded.base : s.encoderInputs[layer + 1].base + outChannels
            Matmul.linear(s.encoderInputs[layer].base, rows: outFrames, inputStride: stride * channels,
                          weight: encoderWeights[layer], into: out)
            let bias = encoderBiases[layer].base
            for t in 0..<outFrames {
                for c in 0..<outChannels { out[t * outChannels + c] = max(out[t * outChannels + c] + bias[c], 0) }
            }
            frames = outFrames
        }

        // LSTM cell: gates = W_ih·x + b_ih + W_hh·h + b_hh, in PyTorch's order i, f, g, o.
        let n = g.hiddenSize, gates = s.gates.base
        Matmul.linear(s.encoded.base, rows: 1, weight: lstmInputWeight, into: gates)
        Matmul.linear(hidden, rows: 1, weight: lstmHiddenWeight, into: gates, accumulate: true)
        let inputBias = lstmInputBias.base, hiddenBias = lstmHiddenBias.base
        for j in 0..<4 * n { gates[j] = gates[j] + inputBias[j] + hiddenBias[j] }
        for j in 0..<n {
            let input = sigmoid(gates[j]), forget = sigmoid(gates[n + j])
            let candidate = tanhf(gates[2 * n + j]), output = sigmoid(gates[3 * n + j])
            cell[j] = forget * cell[j] + input * candidate
            hidden[j] = output * tanhf(cell[j])
        }

        // Decoder: ReLU, 1×1 Conv1d to one channel, sigmoid.
        var logit = Double(decoderBias)
        for j in 0..<n { logit += Double(max(hidden[j], 0)) * Double(decoderWeight[j]) }
        return sigmoid(Float(logit))
    }

    @inline(__always)
    private func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
}
