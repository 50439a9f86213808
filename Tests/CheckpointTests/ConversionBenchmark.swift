import Checkpoint
import Foundation
import Testing

// Load-time conversion speed, through the public API on a real mapped file. Off by default (it writes up to 400 MB
// to the temporary directory); run it in release:
//
//     CHECKPOINT_BENCH=1 swift test -c release --filter ConversionBenchmark
//
// Reports, per dtype, the best of five reads of 10⁸ elements into a reused buffer with the file in the page cache
// (pure conversion), and one `floats(_:)` call that allocates a fresh array (conversion plus page faults on the
// new memory, which is what loading a model pays).

@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CHECKPOINT_BENCH"] != nil, "set CHECKPOINT_BENCH=1"))
struct ConversionBenchmark {
    static let count = 100_000_000

    @Test(arguments: ["BF16", "F16", "F32"])
    func convert100MillionElements(dtype: String) throws {
        let width = dtype == "F32" ? 4 : 2
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A varied bit pattern so no dtype gets an all-zero fast path (F16 then includes subnormals and NaNs).
        var data = [UInt8](repeating: 0, count: Self.count * width)
        var state: UInt32 = 0x1234_5678
        for i in data.indices {
            state = state &* 1_664_525 &+ 1_013_904_223
            data[i] = UInt8(truncatingIfNeeded: state >> 24)
        }
        let path = try dir.writeSafetensors("bench.safetensors", [
            TestTensor(name: "w", dtype: dtype, shape: [Self.count], data: data),
        ])
        let file = try SafetensorsFile(path: path)
        let clock = ContinuousClock()

        var buffer = [Float](repeating: 0, count: Self.count)
        var best = Duration.seconds(1000)
        for _ in 0 ..< 5 {
            let elapsed = try clock.measure {
                try buffer.withUnsafeMutableBufferPointer { try file.read("w", into: $0) }
            }
            best = min(best, elapsed)
        }
        // Spot-check the converted values against the bytes, so the timing is of correct work.
        var wrong = 0
        for i in stride(from: 0, to: Self.count, by: 9973) {
            let bits = (0 ..< width).reduce(UInt32(0)) { $0 | UInt32(data[i * width + $1]) << (8 * $1) }
            let expected: Float = switch dtype {
            case "BF16": Float(bitPattern: bits << 16)
            case "F16": Float(Float16(bitPattern: UInt16(bits)))
            default: Float(bitPattern: bits)
            }
            if expected.isNaN ? !buffer[i].isNaN : expected.bitPattern != buffer[i].bitPattern { wrong += 1 }
        }
        #expect(wrong == 0)
        data = []
        buffer = []
        var floats: [Float] = []
        let fresh = try clock.measure { floats = try file.floats("w") }
        #expect(floats.count == Self.count)
        print("ConversionBenchmark \(dtype): 1e8 elements, reused buffer best of 5 \(best), fresh array \(fresh)")
        #expect(best < .seconds(1))
    }
}
