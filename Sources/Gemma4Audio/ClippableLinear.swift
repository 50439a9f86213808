import Kernels

/// `Gemma4ClippableLinear`: `clamp(clamp(x, inputMin, inputMax) · Wᵀ, outputMin, outputMax)`, no bias.
/// With `use_clipped_linears` off the bounds are ±∞ and both clamps vanish.
struct ClippableLinear: Sendable {
    let weight: FloatBuffer          // (outFeatures, inFeatures)  <prefix>.linear.weight
    let inFeatures: Int
    let outFeatures: Int
    let inputMin: Float              // <prefix>.input_min   (0-d)
    let inputMax: Float              // <prefix>.input_max
    let outputMin: Float             // <prefix>.output_min
    let outputMax: Float             // <prefix>.output_max

    init(_ binder: inout WeightBinder, _ prefix: String, inFeatures: Int, outFeatures: Int, clipped: Bool) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = try binder.tensor(prefix + ".linear.weight", shape: [outFeatures, inFeatures])
        if clipped {
            inputMin = try binder.scalar(prefix + ".input_min")
            inputMax = try binder.scalar(prefix + ".input_max")
            outputMin = try binder.scalar(prefix + ".output_min")
            outputMax = try binder.scalar(prefix + ".output_max")
        } else {
            (inputMin, inputMax, outputMin, outputMax) = (-.infinity, .infinity, -.infinity, .infinity)
        }
    }

    var clampsInput: Bool { inputMin > -.infinity || inputMax < .infinity }

    /// `out (rows, outFeatures) = CL(input (rows, inFeatures))`. `clampScratch` holds `rows × inFeatures` floats
    /// and is used only when the input bounds are finite (the input itself is left untouched).
    func apply(_ input: UnsafePointer<Float>, rows: Int, clampScratch: UnsafeMutablePointer<Float>,
               into out: UnsafeMutablePointer<Float>) {
        var source = input
        if clampsInput {
            clampScratch.update(from: input, count: rows * inFeatures)
            VectorOps.clamp(clampScratch, count: rows * inFeatures, lower: inputMin, upper: inputMax)
            source = UnsafePointer(clampScratch)
        }
        Matmul.linear(source, rows: rows, inFeatures: inFeatures, weight: weight.base, outFeatures: outFeatures,
                      into: out)
        VectorOps.clamp(out, count: rows * outFeatures, lower: outputMin, upper: outputMax)
    }
}
