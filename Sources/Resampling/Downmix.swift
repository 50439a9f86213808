/// Channel downmixing for the mono resampler.
public enum Downmix {
    /// Appends one mono sample per frame of `interleaved` to `output`: the average of the frame's channels.
    ///
    /// `interleaved` holds `frames × channels` samples, `[f0c0, f0c1, …, f1c0, …]`; a trailing partial frame is
    /// ignored. One channel is copied unchanged; two channels are `(l + r) * 0.5`, which is exact in `Float`.
    public static func toMono(_ interleaved: UnsafeBufferPointer<Float>, channels: Int, into output: inout [Float]) {
        precondition(channels > 0, "Downmix.toMono: channels must be positive, got \(channels)")
        let frames = interleaved.count / channels
        guard frames > 0 else { return }
        switch channels {
        case 1:
            output.append(contentsOf: interleaved)
        case 2:
            output.reserveCapacity(output.count + frames)
            for f in 0..<frames {
                output.append((interleaved[2 * f] + interleaved[2 * f + 1]) * 0.5)
            }
        default:
            let scale = 1 / Float(channels)
            output.reserveCapacity(output.count + frames)
            for f in 0..<frames {
                var sum: Float = 0
                for c in 0..<channels { sum += interleaved[f * channels + c] }
                output.append(sum * scale)
            }
        }
    }
}
