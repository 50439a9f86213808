#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import Kernels
import NumberBits

/// A `(rows, columns)` row-major weight matrix in the element type the checkpoint stores it in, read where it lies
/// (a mapped checkpoint file) or from float32 weights. Valid while `owner` lives; used only while loading.
struct StoredMatrix {
    let rows: Int
    let columns: Int
    let element: WeightElement
    let bytes: UnsafeRawPointer
    let owner: AnyObject
    /// Whether `bytes` lie in a read-only file mapping (a checkpoint), whose pages can be dropped once read.
    let isFileMapped: Bool

    /// A matrix inside a checkpoint's read-only file mapping, kept alive by `source`.
    init(rows: Int, columns: Int, element: WeightElement, mappedBytes bytes: UnsafeRawPointer, source: AnyObject) {
        self.rows = rows
        self.columns = columns
        self.element = element
        self.bytes = bytes
        self.owner = source
        isFileMapped = true
    }

    init(_ floats: WeightBuffer, rows: Int, columns: Int) {
        precondition(floats.count == rows * columns)
        self.rows = rows
        self.columns = columns
        element = .f32
        bytes = UnsafeRawPointer(floats.base)
        owner = floats
        isFileMapped = false
    }

    /// The bf16 bit patterns of `floats`, whose values must all be exactly bf16 (random weights are rounded so).
    init(bfloat16Of floats: WeightBuffer, rows: Int, columns: Int) {
        precondition(floats.count == rows * columns)
        let copy = HalfWords(count: floats.count)
        for i in 0..<floats.count {
            precondition(floats[i].bitPattern & 0xFFFF == 0, "not a bf16 value")
            copy.base[i] = UInt16(truncatingIfNeeded: floats[i].bitPattern >> 16)
        }
        self.rows = rows
        self.columns = columns
        element = .bf16
        bytes = UnsafeRawPointer(copy.base)
        owner = copy
        isFileMapped = false
    }

    var rowBytes: Int { columns * element.byteWidth }

    /// Drops the file pages that hold only this matrix from memory once it has been packed: they are the
    /// checkpoint's own bytes (re-read from the file if ever touched again), and keeping them would count a
    /// second copy of the weights in the process's RSS while the model loads.
    func releaseFilePages() {
        guard isFileMapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: bytes) + page - 1) / page * page
        let end = (Int(bitPattern: bytes) + rows * rowBytes) / page * page
        guard end > start, let address = UnsafeMutableRawPointer(bitPattern: start) else { return }
        madvise(address, end - start, Int32(MADV_DONTNEED))
    }

    /// The matrix widened to float32 (exact for every element type).
    func floats() -> WeightBuffer {
        if element == .f32, let buffer = owner as? WeightBuffer, UnsafeRawPointer(buffer.base) == bytes {
            return buffer
        }
        let dtype: TensorDType = switch element {
        case .f32: .f32
        case .bf16: .bf16
        case .f16: .f16
        }
        return WeightBuffer(count: rows * columns) {   // Checkpoint's exact widening
            widen(dtype, from: bytes, into: $0.baseAddress!, count: rows * columns)
        }
    }

    /// Stacks matrices with the same column count into one packed `(Σ rows, columns)` matrix, in their stored
    /// element type when they share one, else in float32.
    static func packed(_ parts: [StoredMatrix]) -> PackedMatrix {
        let columns = parts[0].columns
        precondition(parts.allSatisfy { $0.columns == columns })
        let element = parts.allSatisfy { $0.element == parts[0].element } ? parts[0].element : .f32
        let packed = PackedMatrix(outFeatures: parts.reduce(0) { $0 + $1.rows }, inFeatures: columns,
                                  element: element)
        var row = 0
        for part in parts {
            packed.pack(rows: row..<row + part.rows, from: part.bytes, element: part.element, rowBytes: part.rowBytes)
            part.releaseFilePages()
            row += part.rows
        }
        return packed
    }
}

extension StoredMatrix {
    /// Stacks matrices with the same column count into one `(Σ rows, columns)` matrix in bf16 pairs for the `fast`
    /// precision: bf16 parts as they are, others rounded to bf16 (to nearest, ties to even).
    static func bf16Pairs(_ parts: [StoredMatrix]) -> BF16PairMatrix {
        let columns = parts[0].columns
        precondition(parts.allSatisfy { $0.columns == columns })
        let packed = BF16PairMatrix(outFeatures: parts.reduce(0) { $0 + $1.rows }, inFeatures: columns)
        var row = 0
        for part in parts {
            if part.element == .bf16 {
                packed.pack(rows: row..<row + part.rows, bfloat16: part.bytes, rowBytes: part.rowBytes)
                part.releaseFilePages()
            } else {
                let floats = part.floats()
                let bits = HalfWords(count: columns)
                for r in 0..<part.rows {
                    for i in 0..<columns { bits.base[i] = floats[r * columns + i].bfloat16Bits }
                    packed.pack(rows: row + r..<row + r + 1, bfloat16: bits.base, rowBytes: 2 * columns)
                }
            }
            row += part.rows
        }
        return packed
    }
}

/// 16-bit words with one owner, freed in `deinit`.
private final class HalfWords {
    let base: UnsafeMutablePointer<UInt16>
    init(count: Int) { base = .allocate(capacity: max(count, 1)) }
    deinit { base.deallocate() }
}
