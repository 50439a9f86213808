#if canImport(Glibc)
import Glibc
#endif

/// A fixed-size, 64-byte-aligned block of Float32 with one owner, freed in `deinit`.
///
/// Blocks of 1 MiB and more are mapped pages of their own (`mmap`), so freeing one returns its memory to the
/// system at once: loading a model converts every weight through temporaries, and with malloc those would stay in
/// the heap (glibc raises its mmap threshold after the first large free), keeping hundreds of MB resident.
///
/// Used for weights (written once while loading, then only read, so sharing them across threads is safe) and
/// for per-worker scratch and per-stream state (never shared). That split is the whole of its thread-safety story,
/// hence `@unchecked Sendable`.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    private let mappedBytes: Int   // 0 when malloc'd

    private static let mapThreshold = 1 << 20

    /// A zero-filled buffer of `count` floats.
    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= FloatBuffer.mapThreshold,
           let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
           mapped != MAP_FAILED {
            mappedBytes = bytes
            base = mapped.bindMemory(to: Float.self, capacity: max(count, 1))   // anonymous pages are zero
        } else {
            mappedBytes = 0
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            base.initialize(repeating: 0, count: max(count, 1))
        }
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        if mappedBytes > 0 { munmap(base, mappedBytes) } else { base.deallocate() }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    public subscript(index: Int) -> Float {
        get { base[index] }
        set { base[index] = newValue }
    }
}
