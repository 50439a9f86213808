import NumberBits

/// A ggml tensor element type (`enum ggml_type` in ggml's `ggml.h`), as a GGUF tensor info stores it.
///
/// Every id ggml has ever assigned has a name here; ids it removed (Q4_2, the repacked Q4_0_x_y and IQ4_NL_x_y
/// layouts) have no size, and neither has an id this table does not know. Only ``isReadable`` types can be read;
/// the others are described, checked for form where their size is known, and skipped.
public struct GGMLType: Hashable, Sendable, CustomStringConvertible {
    /// The id stored in the file.
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGMLType(rawValue: 0)
    public static let f16 = GGMLType(rawValue: 1)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let bf16 = GGMLType(rawValue: 30)

    /// The types ``GGUFFile`` converts to Float32.
    public static let readable: [GGMLType] = [.f32, .f16, .bf16, .q8_0]

    /// Whether ``GGUFFile`` can read tensors of this type.
    public var isReadable: Bool { Self.readable.contains(self) }

    /// ggml's name for the type (`ggml_type_name`), e.g. "Q4_K"; `"type <id>"` for an id no ggml release has used.
    public var name: String { traits?.name ?? "type \(rawValue)" }

    /// Elements per block: 1 for plain types, 32 for Q8_0, 256 for the K-quants. `nil` when the size is unknown.
    public var blockSize: Int? { traits?.layout?.blockSize }

    /// Bytes per block. `nil` when the size is unknown.
    public var bytesPerBlock: Int? { traits?.layout?.bytes }

    /// The matching ``TensorDType`` for the plain float types; `nil` for quantized and other types.
    public var plainDType: TensorDType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        default: nil
        }
    }

    public var description: String {
        guard let traits else { return "type \(rawValue) (unknown to this reader)" }
        return traits.layout == nil ? "\(traits.name) (removed from ggml)" : traits.name
    }

    private var traits: (name: String, layout: (blockSize: Int, bytes: Int)?)? {
        Int(rawValue) < ggmlTypeTable.count ? ggmlTypeTable[Int(rawValue)] : nil
    }
}

/// ggml's types by id: name and (elements per block, bytes per block), from `ggml.h` / `ggml.c` `type_traits`
/// (mirrored in gguf-py's `GGML_QUANT_SIZES`). A `nil` layout marks an id ggml no longer supports.
private let ggmlTypeTable: [(name: String, layout: (blockSize: Int, bytes: Int)?)] = [
    ("F32", (1, 4)), ("F16", (1, 2)), ("Q4_0", (32, 18)), ("Q4_1", (32, 20)),
    ("Q4_2", nil), ("Q4_3", nil), ("Q5_0", (32, 22)), ("Q5_1", (32, 24)),
    ("Q8_0", (32, 34)), ("Q8_1", (32, 40)), ("Q2_K", (256, 84)), ("Q3_K", (256, 110)),
    ("Q4_K", (256, 144)), ("Q5_K", (256, 176)), ("Q6_K", (256, 210)), ("Q8_K", (256, 292)),
    ("IQ2_XXS", (256, 66)), ("IQ2_XS", (256, 74)), ("IQ3_XXS", (256, 98)), ("IQ1_S", (256, 50)),
    ("IQ4_NL", (32, 18)), ("IQ3_S", (256, 110)), ("IQ2_S", (256, 82)), ("IQ4_XS", (256, 136)),
    ("I8", (1, 1)), ("I16", (1, 2)), ("I32", (1, 4)), ("I64", (1, 8)),
    ("F64", (1, 8)), ("IQ1_M", (256, 56)), ("BF16", (1, 2)), ("Q4_0_4_4", nil),
    ("Q4_0_4_8", nil), ("Q4_0_8_8", nil), ("TQ1_0", (256, 54)), ("TQ2_0", (256, 66)),
    ("IQ4_NL_4_4", nil), ("IQ4_NL_4_8", nil), ("IQ4_NL_8_8", nil), ("MXFP4", (32, 17)),
    ("NVFP4", (64, 36)), ("Q1_0", (128, 18)),
]

// MARK: - Conversion to Float32

/// Converts `count` elements of a readable `type` at `source` (any alignment) into `destination[0 ..< count]`.
/// For Q8_0, `count` is a multiple of 32 (the reader checks every tensor's rows).
func widen(_ type: GGMLType, from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>,
           count: Int) {
    if let dtype = type.plainDType {
        widen(dtype, from: source, into: destination, count: count)
    } else {
        precondition(type == .q8_0, "\(type) is not readable")
        dequantizeQ8_0(from: source, into: destination, count: count)
    }
}

/// Q8_0 → F32, exactly as ggml's `dequantize_row_q8_0` (and gguf-py's `Q8_0.dequantize_blocks`).
///
/// A block is 34 bytes: the scale `d` as a little-endian binary16, then 32 signed bytes `q[j]`; element j is the
/// binary32 product `Float(q[j]) · Float(d)`. Both factors are exact in binary32 and the product is rounded once,
/// as in ggml, so the result is bit-identical to ggml's.
///
///     offset  0      2                                34
///             +------+---------------------------------+
///             | d:f16| q[0] q[1] …                q[31]|   × (count / 32) blocks, along ggml's ne[0]
///             +------+---------------------------------+
private func dequantizeQ8_0(from source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>,
                            count: Int) {
    let blockBytes = 34
    for block in 0 ..< count / 32 {
        let base = source + block &* blockBytes
        let scale = Float(float16Bits: base.loadUnaligned(as: UInt16.self))
        let out = destination + block &* 32
        for j in 0 ..< 32 {
            out[j] = Float(base.load(fromByteOffset: 2 &+ j, as: Int8.self)) * scale
        }
    }
}
