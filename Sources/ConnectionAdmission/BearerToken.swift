/// Bearer-token checks every TCP listener shares (gRPC's interceptor, the live view's requests).
package enum BearerToken {
    /// Equal bytes, in a time that depends only on the lengths (not on where they differ).
    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        difference |= UInt8(a.count != b.count ? 1 : 0)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
