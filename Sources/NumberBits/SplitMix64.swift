#if canImport(Glibc)
import Glibc
#endif

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014): repeatable
/// pseudo-random numbers from a 64-bit seed, for random weights, test signals, chunkings and fuzz rounds. Not for
/// anything that must be unpredictable. Its sequence for a seed never changes: random-weight fixtures depend on it.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    @inlinable
    package init(seed: UInt64) { state = seed }

    @inlinable
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Two independent N(0, 1) draws (Box–Muller), from two `next()`s.
    @inlinable
    package mutating func nextGaussianPair() -> (Float, Float) {
        let u1 = (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992   // (0, 1)
        let u2 = Double(next() >> 11) / 9_007_199_254_740_992
        let radius = (-2 * log(u1)).squareRoot()
        return (Float(radius * cos(2 * .pi * u2)), Float(radius * sin(2 * .pi * u2)))
    }
}

/// The 64-bit FNV-1a hash of `text`'s UTF-8 bytes: the stable per-tensor seed offset of random weights (a tensor's
/// values must not depend on load order, nor change between releases).
@inlinable
package func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return hash
}
