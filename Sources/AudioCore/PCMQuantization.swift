/// Float samples to signed integer PCM: the one conversion every writer of integer audio uses, through
/// ``PCMSampleFormat/encode(_:appendingTo:)`` (WAV files written by `earshot capture`, s16le/s32le streams pushed by
/// `EarshotClient`).
public enum PCMQuantization {
    /// `x` scaled by 2^(bits − 1), rounded to nearest and saturated to the signed `bits`-bit range
    /// [−2^(bits−1), 2^(bits−1) − 1]; NaN gives 0. Safe for every Float (±3e38 and ±infinity saturate), and
    /// exact: the scaling and rounding happen in Double, where every in-range result is representable.
    /// - Precondition: `bits` is 8 … 32.
    @inlinable
    public static func quantize(_ x: Float, bits: Int) -> Int32 {
        precondition((8...32).contains(bits), "PCMQuantization.quantize: \(bits) bits")
        guard !x.isNaN else { return 0 }
        let scale = Double(sign: .plus, exponent: bits - 1, significand: 1)
        let scaled = (Double(x) * scale).rounded()
        return Int32(Swift.min(scale - 1, Swift.max(-scale, scaled)))
    }
}
