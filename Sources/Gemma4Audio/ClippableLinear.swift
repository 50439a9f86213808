import Kernels

/// `Gemma4ClippableLinear`: `clamp(clamp(x, inputMin, inputMax) · Wᵀ, outputMin, outputMax)`, no bias.
/// With `use_clipped_linears` off the bounds are ±∞ and both clamps vanish.
struct ClippableLinear: Sendable {
    let projection: Projection       // (outFeatures, inFeatures)  <prefix>.linear.weight
    let inputMin: Float              // <prefix>.input_min   (0-d)
    let inputMax: Float              // <prefix>.input_max
    let outputMin: Float             // <prefix>.output_min
    let outputMax: Float             // <prefix>.output_max

    init(_ binder: inout WeightBinder, _ prefix: String, inFeatures: Int, outFeatures: Int, clipped: Bool,
         precision: ComputePrecision) throws {
        let weight = try binder.tensor(prefix + ".linear.weight", shape: [outFeatures, inFeatures])
        projection = try Projection(weight, inFeatures: inFeatures, outFeatures: outFeatures, precision: precision)
        if clipped {
            inputMin = try binder.scalar(prefix + ".input_min")
            inputMax = try binder.scalar(prefix + ".input_max")
            outputMin = try binder.scalar(prefix + ".output_min")
            outputMax = try binder.scalar(prefix + ".output_max")
        } else {
            (inputMin, inputMax, outputMin, outputMax) = (-.infinity, .infinity, -.infinity, .infinity)
        }
    }

    var inFeatures: Int { projection.inFeatures }
    var outFeatures: Int { projection.outFeatures }
    var clampsInput: Bool { inputMin > -.infinity || inputMax < .infinity }

    /// `out (rows, outFeatures) = CL(input (rows, inFeatures))`. The clamped input goes to the scratch's
    /// `clampedInput`; the input itself is left untouched.
    func apply(_ input: UnsafePointer<Float>, rows: Int, scratch: EncoderScratch,
               into out: UnsafeMutablePointer<Float>) {
        var source = input
        if clampsInput {
            let clamped = scratch.clampedInput.base
            clamped.update(from: input, count: rows * inFeatures)
            VectorOps.clamp(clamped, count: rows * inFeatures, lower: inputMin, upper: inputMax)
            source = UnsafePointer(clamped)
        }
        projection.apply(source, rows: rows, scratch: scratch, into: out)
        VectorOps.clamp(out, count: rows * outFeatures, lower: outputMin, upper: outputMax)
    }
}
