import CAllocationCounter

/// Heap allocations made on the calling thread, for tests of "allocates nothing" claims.
///
/// The test executable's allocation functions count per thread (see `allocation_counter.h`), so tests running in
/// parallel do not disturb a measurement; work the measured code hands to other threads is not counted.
public enum AllocationCounter {
    /// The heap allocations `body` makes on the calling thread. `body` must not suspend (a synchronous closure runs
    /// on one thread).
    public static func allocations(in body: () throws -> Void) rethrows -> Int {
        allocation_counter_start()
        defer { _ = allocation_counter_stop() }
        try body()
        return Int(allocation_counter_stop())
    }
}
