import Kernels

/// The four 0-d clamp buffers of a `Gemma4ClippableLinear` (±∞ when `use_clipped_linears` is off).
struct ClampBounds: Sendable, Equatable {
    var inputMin: Float = -.infinity     // <prefix>.input_min
    var inputMax: Float = .infinity      // <prefix>.input_max
    var outputMin: Float = -.infinity    // <prefix>.output_min
    var outputMax: Float = .infinity     // <prefix>.output_max

    init() {}

    init(_ binder: inout WeightBinder, _ prefix: String, clipped: Bool) throws {
        guard clipped else { return }
        inputMin = try binder.scalar(prefix + ".input_min")
        inputMax = try binder.scalar(prefix + ".input_max")
        outputMin = try binder.scalar(prefix + ".output_min")
        outputMax = try binder.scalar(prefix + ".output_max")
    }

    var clampsInput: Bool { inputMin > -.infinity || inputMax < .infinity }

    /// `input` clamped into the scratch's `clampedInput`, or `input` itself when the bounds are infinite.
    func clampedInput(_ input: UnsafePointer<Float>, count: Int, scratch: EncoderScratch) -> UnsafePointer<Float> {
        guard clampsInput else { return input }
        let clamped = scratch.clampedInput.base
        clamped.update(from: input, count: count)
        VectorOps.clamp(clamped, count: count, lower: inputMin, upper: inputMax)
        return UnsafePointer(clamped)
    }

    func clampOutput(_ out: UnsafeMutablePointer<Float>, count: Int) {
        VectorOps.clamp(out, count: count, lower: outputMin, upper: outputMax)
    }
}

/// `Gemma4ClippableLinear`: `clamp(clamp(x, inputMin, inputMax) · Wᵀ, outputMin, outputMax)`, no bias.
struct ClippableLinear: Sendable {
    let projection: Projection       // (outFeatures, inFeatures)  <prefix>.linear.weight
    let bounds: ClampBounds

    init(_ binder: inout WeightBinder, _ prefix: String, inFeatures: Int, outFeatures: Int, clipped: Bool,
         precision: ComputePrecision) throws {
        let weight = try binder.matrix(prefix + ".linear.weight", rows: outFeatures, columns: inFeatures)
        projection = try Projection(weight, precision: precision)
        bounds = try ClampBounds(&binder, prefix, clipped: clipped)
    }

    init(projection: Projection, bounds: ClampBounds) {
        self.projection = projection
        self.bounds = bounds
    }

    var inFeatures: Int { projection.inFeatures }
    var outFeatures: Int { projection.outFeatures }

    /// `out (rows, outFeatures) = CL(input (rows, inFeatures))`; the input itself is left untouched.
    func apply(_ input: UnsafePointer<Float>, rows: Int, scratch: EncoderScratch,
               into out: UnsafeMutablePointer<Float>) {
        let source = bounds.clampedInput(input, count: rows * inFeatures, scratch: scratch)
        projection.apply(source, rows: rows, scratch: scratch, into: out)
        bounds.clampOutput(out, count: rows * outFeatures)
    }
}
