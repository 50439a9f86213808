import Kernels

/// The clamp ranges of a `Gemma4ClippableLinear`, from its four 0-d buffers. −inf…+inf is "no clip": so when
/// `use_clipped_linears` is off, and in a checkpoint saved with transformers' initial bounds (see
/// `WeightBinder.clampRange`); then the clamp is skipped, not computed with infinities.
struct ClampBounds: Sendable, Equatable {
    var input: ClosedRange<Float> = -.infinity ... .infinity     // <prefix>.input_min … <prefix>.input_max
    var output: ClosedRange<Float> = -.infinity ... .infinity    // <prefix>.output_min … <prefix>.output_max

    init() {}

    init(_ binder: inout WeightBinder, _ prefix: String, clipped: Bool) throws {
        guard clipped else { return }
        input = try binder.clampRange(prefix + ".input")
        output = try binder.clampRange(prefix + ".output")
    }

    var clampsInput: Bool { input != -.infinity ... .infinity }

    /// `input` clamped into the scratch's `clampedInput`, or `input` itself when the bounds are infinite.
    func clampedInput(_ input: UnsafePointer<Float>, count: Int, scratch: EncoderScratch) -> UnsafePointer<Float> {
        guard clampsInput else { return input }
        let clamped = scratch.clampedInput.base
        clamped.update(from: input, count: count)
        VectorOps.clamp(clamped, count: count, lower: self.input.lowerBound, upper: self.input.upperBound)
        return UnsafePointer(clamped)
    }

    func clampOutput(_ out: UnsafeMutablePointer<Float>, count: Int) {
        VectorOps.clamp(out, count: count, lower: output.lowerBound, upper: output.upperBound)
    }
}

/// `Gemma4ClippableLinear`: `clamp(clamp(x, inputMin, inputMax) · Wᵀ, outputMin, outputMax)`, no bias.
struct ClippableLinear: Sendable {
    let projection: Projection       // (outFeatures, inFeatures)  <prefix>.linear.weight
    let bounds: ClampBounds

    init(_ binder: inout WeightBinder, _ prefix: String, inFeatures: Int, outFeatures: Int, clipped: Bool,
         precision: ComputePrecision) throws {
        let weight = try binder.matrix(prefix + ".linear.weight", rows: outFeatures, columns: inFeatures)
        projection = try Projection(weight, precision: precision, key: prefix)
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
