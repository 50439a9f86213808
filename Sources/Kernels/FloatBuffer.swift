/// A fixed-size, 64-byte-aligned, zero-filled block of Float32 with one owner (see `PageBlock`).
///
/// Used for weights (written once while loading, then only read, so sharing them across threads is safe) and
/// for per-worker scratch and per-stream state (never shared). That split is the whole of its thread-safety story,
/// hence `@unchecked Sendable`.
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

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public subscript(index: Int) -> Float {
        get { base[index] }
        set { base[index] = newValue }
    }
}
