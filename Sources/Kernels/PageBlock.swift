#if canImport(Glibc)
import Glibc
#endif

/// Zero-filled, 64-byte-aligned raw memory with one owner, freed in `deinit`.
///
/// Blocks of 1 MiB and more are mapped pages of their own (`mmap`), so freeing one returns its memory to the
/// system at once: loading a model converts weights through temporaries, and with malloc those would stay in the
/// heap (glibc raises its mmap threshold after the first large free), keeping hundreds of MB resident.
final class PageBlock {
    let bytes: Int
    let base: UnsafeMutableRawPointer
    private let mapped: Bool

    private static let mapThreshold = 1 << 20

    init(bytes requested: Int) {
        precondition(requested >= 0)
        bytes = max(requested, 1)
        if bytes >= PageBlock.mapThreshold,
           let pages = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
           pages != MAP_FAILED {
            mapped = true
            base = pages                                     // anonymous pages are zero
        } else {
            mapped = false
            base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        }
    }

    deinit {
        if mapped { munmap(base, bytes) } else { base.deallocate() }
    }
}
