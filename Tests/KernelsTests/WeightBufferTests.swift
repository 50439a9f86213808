import Kernels
import Testing

@Suite struct WeightBufferTests {
    @Test func holdsWhatItsInitialiserWrote() {
        let filled = WeightBuffer(count: 5) { for i in $0.indices { $0[i] = Float(i) * 0.5 } }
        #expect((0..<5).map { filled[$0] } == [0, 0.5, 1, 1.5, 2])
        let copied = WeightBuffer([3, -1, 7])
        #expect(copied.count == 3 && (0..<3).map { copied[$0] } == [3, -1, 7])
        #expect(Int(bitPattern: copied.base) % 64 == 0)   // aligned for the kernels' vector loads
        #expect(WeightBuffer(count: 0) { _ in }.count == 0)
    }
}
