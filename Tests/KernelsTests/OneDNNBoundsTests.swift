import Kernels
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `earshot bench --precision bf16 --streams 4` was reported to die in oneDNN's JIT code on a 512-bit load at a
/// page boundary (issue #21). This test puts a PROT_NONE page right after a product's input, so that a read past
/// its end crashes here instead of in a daemon. At these shapes (E2B's, 1–96 rows) oneDNN reads no further.
@Suite(.enabled(if: (try? OneDNNEngine.shared.get()) != nil && OneDNNEngine.hasNativeBF16,
                "needs oneDNN with native bf16 (AVX-512 BF16 or AMX)"))
struct OneDNNBoundsTests {
    /// `bytes` of read-write memory ending where a PROT_NONE page begins; unmapped by the caller.
    struct Guarded {
        let mapping: UnsafeMutableRawPointer
        let mappedBytes: Int
        let start: UnsafeMutableRawPointer

        init(bytes: Int) {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let dataPages = (bytes + page - 1) / page
            mappedBytes = (dataPages + 1) * page
            mapping = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            precondition(mapping != MAP_FAILED)
            precondition(mprotect(mapping + dataPages * page, page, PROT_NONE) == 0)
            start = mapping + dataPages * page - bytes
        }

        func release() { munmap(mapping, mappedBytes) }
    }

    @Test("bf16 products read nothing past the end of their input",
          arguments: [(1024, 4096), (4096, 1024), (3072, 1024), (1536, 1536), (1024, 1024)])
    func inputEndsAtAGuardPage(shape: (inFeatures: Int, outFeatures: Int)) throws {
        let engine = try OneDNNEngine.shared.get()
        let (k, n) = shape
        var weight = [Float](repeating: 0, count: n * k)
        for i in weight.indices { weight[i] = Float((i * 7919) % 255 - 127) / 512 }
        let matrix = try weight.withUnsafeBufferPointer {
            try OneDNNMatrix($0.baseAddress!, outFeatures: n, inFeatures: k, elementType: .bf16, engine: engine)
        }
        let stream = try OneDNNStream(engine: engine)
        for rows in [1, 12, 13, 24, 48, 96] {
            let input = Guarded(bytes: rows * k * 2)
            defer { input.release() }
            let bits = input.start.bindMemory(to: UInt16.self, capacity: rows * k)
            for i in 0..<rows * k { bits[i] = 0x3F80 }   // 1.0
            let output = UnsafeMutablePointer<Float>.allocate(capacity: rows * n)
            defer { output.deallocate() }
            try matrix.multiply(UnsafeRawPointer(bits), rows: rows, into: output, stream: stream)
            // Row sums of W in bf16, computed in float64: the product of rows of ones.
            for j in [0, n - 1] {
                var expected = 0.0
                for i in 0..<k { expected += Double(weight[j * k + i]) }
                #expect(abs(Double(output[(rows - 1) * n + j]) - expected) <= 1e-3 * max(1, abs(expected)))
            }
        }
    }
}
