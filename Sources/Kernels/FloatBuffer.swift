/// A fixed-size, 64-byte-aligned block of Float32 with one owner, freed in `deinit`.
///
/// Used for weights (written once while loading, then only read, so sharing them across threads is safe) and
/// for per-worker scratch and per-stream state (never shared). That split is the whole of its thread-safety story,
/// hence `@unchecked Sendable`.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    /// A zero-filled buffer of `count` floats.
    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride,
                                                   alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { base.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public subscript(index: Int) -> Float {
        get { base[index] }
        set { base[index] = newValue }
    }
}
