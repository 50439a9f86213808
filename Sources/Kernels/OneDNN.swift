import CDNNL
import NumberBits
#if canImport(Glibc)
import Glibc
#endif

/// A oneDNN call that failed: the C function and its status. oneDNN statuses become Swift errors here and only here.
public struct OneDNNError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let status: UInt32
    public var description: String { "oneDNN \(call) failed (status \(status))" }
}

@inline(__always)
func dnnlCheck(_ status: dnnl_status_t, _ call: @autoclosure () -> String) throws {
    guard status == dnnl_success else { throw OneDNNError(call: call(), status: status.rawValue) }
}

/// The process's oneDNN CPU engine (one owner: the process; never destroyed, as oneDNN's own examples do for
/// global engines).
public final class OneDNNEngine: @unchecked Sendable {   // immutable after init; oneDNN engines are thread-safe
    let engine: dnnl_engine_t

    private init(_ engine: dnnl_engine_t) { self.engine = engine }

    /// The shared engine, or the error that prevented creating it.
    public static let shared: Result<OneDNNEngine, OneDNNError> = {
        var engine: dnnl_engine_t?
        let status = dnnl_engine_create(&engine, dnnl_cpu, 0)
        guard status == dnnl_success, let engine else {
            return .failure(OneDNNError(call: "dnnl_engine_create", status: status.rawValue))
        }
        return .success(OneDNNEngine(engine))
    }()

    /// Whether the CPU runs oneDNN's AMX bf16 kernels (`dnnl_get_effective_cpu_isa` reports avx512_core_amx).
    public static var hasAMX: Bool { dnnl_get_effective_cpu_isa().rawValue >= dnnl_cpu_isa_avx512_core_amx.rawValue }

    /// Whether oneDNN multiplies bf16 in hardware here (AVX-512 bf16 or AMX) rather than emulating it.
    public static var hasNativeBF16: Bool {
        dnnl_get_effective_cpu_isa().rawValue >= dnnl_cpu_isa_avx512_core_bf16.rawValue
    }

    /// The instruction set oneDNN dispatches to here, in its own words ("avx2", "avx512_core_bf16",
    /// "avx512_core_amx", …); `ONEDNN_MAX_CPU_ISA` lowers it.
    public static var instructionSet: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41"),
        ]
        return names.first { $0.0 == isa }?.1 ?? "isa 0x" + String(isa.rawValue, radix: 16)
    }

    /// Threads oneDNN's OpenMP team uses for calls from the current thread.
    public static func setThreadCount(_ count: Int) { omp_set_num_threads(Int32(max(1, count))) }
}

/// An execution stream: one per compute thread (oneDNN streams are not shared between threads).
public final class OneDNNStream {
    let stream: dnnl_stream_t

    public init(engine: OneDNNEngine) throws {
        var stream: dnnl_stream_t?
        try dnnlCheck(dnnl_stream_create(&stream, engine.engine, dnnl_stream_default_flags.rawValue),
                      "dnnl_stream_create")
        self.stream = stream!
    }

    deinit { dnnl_stream_destroy(stream) }
}

/// A `[out, in]` Linear weight reordered once into the layout oneDNN's matmul kernel wants, as float32 or bf16
/// (on AMX CPUs, bf16 goes to the tiles its `brg:avx512_core_amx` kernel reads). `multiply` computes
/// `out = input · Wᵀ` with inputs of the same type and float32 accumulation and output.
public final class OneDNNMatrix: @unchecked Sendable {   // weights immutable; the primitive cache is locked
    public enum ElementType: Sendable {
        case f32, bf16
        var dnnl: dnnl_data_type_t { self == .f32 ? dnnl_f32 : dnnl_bf16 }
    }

    public let outFeatures: Int
    public let inFeatures: Int
    public let elementType: ElementType
    private let engine: OneDNNEngine
    private let weights: dnnl_memory_t                   // packed bf16, owned
    private let weightsDescription: dnnl_memory_desc_t   // its layout, reused by every primitive
    /// Matmul primitives by row count: oneDNN specialises kernels to it.
    private var primitives: [Int: dnnl_primitive_t] = [:]
    private var lock = pthread_mutex_t()

    /// Packs `weight` `(outFeatures, inFeatures)` row-major float32 as `elementType`, laid out for a kernel tuned
    /// to `rows` rows.
    public init(_ weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int, elementType: ElementType,
                rows: Int = 48, engine: OneDNNEngine) throws {
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.elementType = elementType
        self.engine = engine
        pthread_mutex_init(&lock, nil)
        // Logical weights are (K, N); our [N, K] row-major storage is oneDNN's "ba".
        var user = dnnl_memory_desc_t()
        var dims: [dnnl_dim_t] = [dnnl_dim_t(inFeatures), dnnl_dim_t(outFeatures)]
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&user, 2, &dims, dnnl_f32, dnnl_ba), "dnnl_memory_desc_init_by_tag")
        var any = dnnl_memory_desc_t()
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&any, 2, &dims, elementType.dnnl, dnnl_format_tag_any),
                      "dnnl_memory_desc_init_by_tag")
        let descriptor = try OneDNNMatrix.primitiveDescriptor(rows: rows, inFeatures: inFeatures,
                                                              outFeatures: outFeatures, weights: &any,
                                                              elementType: elementType, engine: engine)
        defer { dnnl_primitive_desc_destroy(descriptor) }
        weightsDescription = dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0)!.pointee

        var packed: dnnl_memory_t?
        var layout = weightsDescription
        try dnnlCheck(dnnl_memory_create(&packed, &layout, engine.engine, cdnnl_memory_allocate()),
                      "dnnl_memory_create")
        weights = packed!
        var source: dnnl_memory_t?
        try dnnlCheck(dnnl_memory_create(&source, &user, engine.engine, UnsafeMutableRawPointer(mutating: weight)),
                      "dnnl_memory_create")
        defer { dnnl_memory_destroy(source) }
        var reorderDescriptor: dnnl_primitive_desc_t?
        try dnnlCheck(dnnl_reorder_primitive_desc_create(&reorderDescriptor, &user, engine.engine, &layout,
                                                         engine.engine, nil), "dnnl_reorder_primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(reorderDescriptor) }
        var reorder: dnnl_primitive_t?
        try dnnlCheck(dnnl_primitive_create(&reorder, reorderDescriptor), "dnnl_primitive_create(reorder)")
        defer { dnnl_primitive_destroy(reorder) }
        let stream = try OneDNNStream(engine: engine)
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source),
                    dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: weights)]
        try dnnlCheck(dnnl_primitive_execute(reorder, stream.stream, 2, &args), "dnnl_primitive_execute(reorder)")
        try dnnlCheck(dnnl_stream_wait(stream.stream), "dnnl_stream_wait")
    }

    deinit {
        for primitive in primitives.values { dnnl_primitive_destroy(primitive) }
        dnnl_memory_destroy(weights)
        pthread_mutex_destroy(&lock)
    }

    /// Bytes of packed weights.
    public var byteCount: Int {
        var layout = weightsDescription
        return dnnl_memory_desc_get_size(&layout)
    }

    /// `out (rows, outFeatures) = input (rows, inFeatures) · Wᵀ`; `input` is row-major `elementType`
    /// (float32, or bf16 bits).
    public func multiply(_ input: UnsafeRawPointer, rows: Int, into out: UnsafeMutablePointer<Float>,
                         stream: OneDNNStream) throws {
        let primitive = try self.primitive(rows: rows)
        var srcDescription = dnnl_memory_desc_t(), dstDescription = dnnl_memory_desc_t()
        var srcDims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(inFeatures)]
        var dstDims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(outFeatures)]
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&srcDescription, 2, &srcDims, elementType.dnnl, dnnl_ab),
                      "src desc")
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&dstDescription, 2, &dstDims, dnnl_f32, dnnl_ab), "dst desc")
        var src: dnnl_memory_t?, dst: dnnl_memory_t?
        try dnnlCheck(dnnl_memory_create(&src, &srcDescription, engine.engine, UnsafeMutableRawPointer(mutating: input)),
                      "dnnl_memory_create(src)")
        defer { dnnl_memory_destroy(src) }
        try dnnlCheck(dnnl_memory_create(&dst, &dstDescription, engine.engine, out), "dnnl_memory_create(dst)")
        defer { dnnl_memory_destroy(dst) }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: src),
                    dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: dst)]
        try dnnlCheck(dnnl_primitive_execute(primitive, stream.stream, 3, &args), "dnnl_primitive_execute(matmul)")
        try dnnlCheck(dnnl_stream_wait(stream.stream), "dnnl_stream_wait")
    }

    private func primitive(rows: Int) throws -> dnnl_primitive_t {
        let key = rows
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if let cached = primitives[key] { return cached }
        var layout = weightsDescription
        let descriptor = try OneDNNMatrix.primitiveDescriptor(rows: rows, inFeatures: inFeatures,
                                                              outFeatures: outFeatures, weights: &layout,
                                                              elementType: elementType, engine: engine)
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var primitive: dnnl_primitive_t?
        try dnnlCheck(dnnl_primitive_create(&primitive, descriptor), "dnnl_primitive_create(matmul)")
        primitives[key] = primitive!
        return primitive!
    }

    private static func primitiveDescriptor(rows: Int, inFeatures: Int, outFeatures: Int,
                                            weights: inout dnnl_memory_desc_t, elementType: ElementType,
                                            engine: OneDNNEngine) throws -> dnnl_primitive_desc_t {
        var src = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        var srcDims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(inFeatures)]
        var dstDims: [dnnl_dim_t] = [dnnl_dim_t(rows), dnnl_dim_t(outFeatures)]
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&src, 2, &srcDims, elementType.dnnl, dnnl_ab), "src desc")
        try dnnlCheck(dnnl_memory_desc_init_by_tag(&dst, 2, &dstDims, dnnl_f32, dnnl_ab), "dst desc")
        var matmul = dnnl_matmul_desc_t()
        try dnnlCheck(dnnl_matmul_desc_init(&matmul, &src, &weights, nil, &dst), "dnnl_matmul_desc_init")
        var descriptor: dnnl_primitive_desc_t?
        try dnnlCheck(dnnl_primitive_desc_create(&descriptor, &matmul, nil, engine.engine, nil),
                      "dnnl_primitive_desc_create(matmul)")
        return descriptor!
    }
}

extension VectorOps {
    /// The bf16 value nearest to `x` (ties to even), as a Float (`Float.bfloat16Bits`; a NaN stays a NaN).
    @inlinable
    public static func roundedToBFloat16(_ x: Float) -> Float {
        Float(bfloat16Bits: x.bfloat16Bits)
    }

    /// Splits each x into high = bf16(x) and low = bf16(x − high), as bf16 bits: high + low carries ~16 bits of
    /// x's 24-bit significand.
    @inlinable
    public static func splitToBFloat16(_ x: UnsafePointer<Float>, count: Int, high: UnsafeMutablePointer<UInt16>,
                                       low: UnsafeMutablePointer<UInt16>) {
        for i in 0..<count {
            high[i] = x[i].bfloat16Bits
            low[i] = x[i].isFinite ? (x[i] - Float(bfloat16Bits: high[i])).bfloat16Bits : 0
        }
    }
}
