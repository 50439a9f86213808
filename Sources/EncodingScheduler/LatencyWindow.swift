import EarshotTypes
import Synchronization

/// The most recent token latencies (end of a token's audio → its send), for status: a fixed ring, so recording
/// never allocates and old figures age out.
package final class LatencyWindow: Sendable {
    package static let capacity = 2048

    private struct Ring {
        var values = [Double](repeating: 0, count: LatencyWindow.capacity)
        var next = 0
        var filled = 0
    }

    private let ring = Mutex(Ring())

    package init() {}

    package func record(milliseconds: Double) {
        ring.withLock { r in
            r.values[r.next] = milliseconds
            r.next = (r.next + 1) % Self.capacity
            r.filled = min(r.filled + 1, Self.capacity)
        }
    }

    /// Nearest-rank percentiles of what the ring holds.
    package func summary() -> DaemonStatus.Latency {
        let held = ring.withLock { Array($0.values.prefix($0.filled)) }
        guard !held.isEmpty else { return DaemonStatus.Latency() }
        let sorted = held.sorted()
        func rank(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
        return DaemonStatus.Latency(tokens: sorted.count, p50Ms: rank(0.5), p90Ms: rank(0.9), p99Ms: rank(0.99),
                                    maxMs: sorted[sorted.count - 1])
    }
}
