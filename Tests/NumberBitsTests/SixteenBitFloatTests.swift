import NumberBits
import Testing

// The platform's Float16 is the reference where it exists (x86_64 and arm64 Linux); bfloat16 has none, so its
// expected values are worked out from the definition: the high half of a binary32.

@Suite struct SixteenBitFloatTests {
    /// Every binary16 pattern widens to exactly the platform's value, and narrows back to itself.
    @Test func everyHalfWidensExactlyAndRoundTrips() {
        var mismatches = 0
        for bits in 0...UInt16.max {
            let f = Float(float16Bits: bits)
            #if arch(x86_64) || arch(arm64)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN ? !f.isNaN : reference.bitPattern != f.bitPattern { mismatches += 1 }
            #endif
            if f.isNaN {
                // A NaN keeps its sign, quiet bit and payload (the 10 fraction bits, 13 places up).
                if f.bitPattern != (UInt32(bits & 0x8000) << 16 | 0x7F80_0000 | UInt32(bits & 0x3FF) << 13) {
                    mismatches += 1
                }
                if !Float(float16Bits: f.float16Bits).isNaN { mismatches += 1 }
            } else if f.float16Bits != bits {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
    }

    /// Every bfloat16 pattern widens to the binary32 whose high half it is, and narrows back to itself (a NaN
    /// gains the quiet bit, nothing else).
    @Test func everyBFloat16WidensExactlyAndRoundTrips() {
        var mismatches = 0
        for bits in 0...UInt16.max {
            let f = Float(bfloat16Bits: bits)
            if f.bitPattern != UInt32(bits) << 16 { mismatches += 1 }
            if f.bfloat16Bits != (f.isNaN ? bits | 0x0040 : bits) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// binary32 values round to binary16 exactly as the platform's conversion does (nearest, ties to even,
    /// subnormals, overflow to infinity), over random bit patterns and every tie near 1, 65504 and the subnormals.
    @Test func halfRoundsLikeThePlatform() {
        #if arch(x86_64) || arch(arm64)
        var generator = SplitMix64(seed: 7)
        var samples = (0..<200_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: generator.next())) }
        for half in [UInt16(0x3C00), 0x3C01, 0x7BFE, 0x7BFF, 0x0000, 0x0001, 0x0002, 0x03FF, 0x0400] {
            let low = Float(float16Bits: half).bitPattern
            samples += [low &- 1, low, low &+ 1, low | 0x0FFF, low | 0x1000, low | 0x1001].map(Float.init(bitPattern:))
        }
        var mismatches = 0
        for f in samples {
            if f.isNaN {
                if !Float(float16Bits: f.float16Bits).isNaN { mismatches += 1 }
            } else if f.float16Bits != Float16(f).bitPattern {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
        #endif
    }

    @Test func halfEdges() {
        #expect(Float(65504).float16Bits == 0x7BFF)                         // largest finite
        #expect(Float(65519.996).float16Bits == 0x7BFF)                     // just below halfway to 65536
        #expect(Float(65520).float16Bits == 0x7C00)                         // halfway, odd below: to infinity
        #expect(Float(-1e10).float16Bits == 0xFC00)
        #expect(Float.infinity.float16Bits == 0x7C00)
        #expect(Float(0x1p-24).float16Bits == 0x0001)                       // smallest subnormal
        #expect(Float(0x1p-25).float16Bits == 0x0000)                       // tie with zero: even
        #expect(Float(0x1.8p-24).float16Bits == 0x0002)                     // tie between 1 and 2 ulps: even
        #expect(Float(-0.0).float16Bits == 0x8000)
        #expect(Float.nan.float16Bits & 0x7E00 == 0x7E00)                   // quiet NaN
        #expect(Float(float16Bits: 0x7C01).isNaN && Float(float16Bits: 0xFC00) == -.infinity)
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(Float(1).bfloat16Bits == 0x3F80)
        #expect(Float(bitPattern: 0x3F80_8000).bfloat16Bits == 0x3F80)     // tie, even stays
        #expect(Float(bitPattern: 0x3F81_8000).bfloat16Bits == 0x3F82)     // tie, odd rounds up
        #expect(Float(bitPattern: 0x3F80_8001).bfloat16Bits == 0x3F81)     // above the tie
        #expect(Float(bitPattern: 0x3F80_7FFF).bfloat16Bits == 0x3F80)     // below the tie
        #expect(Float(bitPattern: 0x3FFF_FFFF).bfloat16Bits == 0x4000)     // carries into the exponent
        #expect(Float.greatestFiniteMagnitude.bfloat16Bits == 0x7F80)       // past the largest bf16: infinity
        #expect(Float(bitPattern: 0x7F7F_7FFF).bfloat16Bits == 0x7F7F)     // just below: the largest bf16
        #expect((-Float.infinity).bfloat16Bits == 0xFF80)
        #expect(Float(bitPattern: 0x0000_8000).bfloat16Bits == 0x0000)     // subnormal tie, even
        #expect(Float(-0.0).bfloat16Bits == 0x8000)
    }

    @Test func bfloat16KeepsNaNsNaN() {
        #expect(Float.nan.bfloat16Bits & 0x7FC0 == 0x7FC0)
        // A payload only in the low half would truncate to infinity: the quiet bit keeps it a NaN.
        #expect(Float(bfloat16Bits: Float(bitPattern: 0x7F80_0001).bfloat16Bits).isNaN)
        #expect(Float(bitPattern: 0xFF80_0001).bfloat16Bits == 0xFFC0)
        #expect(Float(bitPattern: 0x7FA0_0000).bfloat16Bits == 0x7FE0)     // high payload kept
    }
}
