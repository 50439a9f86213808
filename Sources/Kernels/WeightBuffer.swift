/// A fixed-size, 64-byte-aligned block of Float32 weights: written once, by the closure given to `init`, then only
/// read. Nothing can write it afterwards (it hands out only `UnsafePointer`), which is what makes sharing it across
/// threads safe, hence `@unchecked Sendable`. Mutable memory (scratch, per-stream state) is a `FloatBuffer`.
public final class WeightBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafePointer<Float>
    private let block: PageBlock

    /// `count` floats, zero-filled, then set by `fill`: the only code that ever writes them.
    public init(count: Int, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        precondition(count >= 0)
        self.count = count
        block = PageBlock(bytes: count * MemoryLayout<Float>.stride)
        let floats = block.base.bindMemory(to: Float.self, capacity: max(count, 1))
        try fill(UnsafeMutableBufferPointer(start: floats, count: count))
        base = UnsafePointer(floats)
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count) { _ = $0.update(fromContentsOf: values) }
    }

    public subscript(index: Int) -> Float { base[index] }
}
