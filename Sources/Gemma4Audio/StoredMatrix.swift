import Kernels

/// A `(rows, columns)` row-major weight matrix in the element type the checkpoint stores it in, read where it lies
/// (a mapped checkpoint file) or from a float32 buffer. Valid while `owner` lives; used only while loading.
struct StoredMatrix {
    let rows: Int
    let columns: Int
    let element: WeightElement
    let bytes: UnsafeRawPointer
    let owner: AnyObject

    init(rows: Int, columns: Int, element: WeightElement, bytes: UnsafeRawPointer, owner: AnyObject) {
        self.rows = rows
        self.columns = columns
        self.element = element
        self.bytes = bytes
        self.owner = owner
    }

    init(_ floats: FloatBuffer, rows: Int, columns: Int) {
        precondition(floats.count == rows * columns)
        self.init(rows: rows, columns: columns, element: .f32, bytes: UnsafeRawPointer(floats.base), owner: floats)
    }

    var rowBytes: Int { columns * element.byteWidth }

    /// The matrix widened to float32 (exact for every element type).
    func floats() -> FloatBuffer {
        if element == .f32, let buffer = owner as? FloatBuffer, UnsafeRawPointer(buffer.base) == bytes {
            return buffer
        }
        let out = FloatBuffer(count: rows * columns)
        for r in 0..<rows {
            let row = bytes + r * rowBytes, dst = out.base + r * columns
            switch element {
            case .f32:
                UnsafeMutableRawPointer(dst).copyMemory(from: row, byteCount: rowBytes)
            case .bf16:
                for c in 0..<columns {
                    dst[c] = Float(bitPattern: UInt32(row.loadUnaligned(fromByteOffset: 2 * c, as: UInt16.self)) << 16)
                }
            case .f16:
                for c in 0..<columns {
                    dst[c] = Float(Float16(bitPattern: row.loadUnaligned(fromByteOffset: 2 * c, as: UInt16.self)))
                }
            }
        }
        return out
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
            row += part.rows
        }
        return packed
    }
}
