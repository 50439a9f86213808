/// A fixed-size, 64-byte-aligned, zero-filled block of mutable Float32 with one owner (see `PageBlock`): a
/// worker's scratch or one stream's state. Weights, written once and then shared, are a `WeightBuffer` instead.
///
/// `@unchecked Sendable` so that its owner (a stream, a worker's scratch) can move to another thread; two threads
/// never use one buffer at once.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>
    private let block: PageBlock

    /// A zero-filled buffer of `count` floats.
    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        block = PageBlock(bytes: count * MemoryLayout<Float>.stride)
        base = block.base.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    public subscript(index: Int) -> Float {
        get { base[index] }
        set { base[index] = newValue }
    }
}
