import Foundation
import Synchronization

/// Where the scheduler reads time: wall-clock stamps for tokens, and a monotonic clock for how long work waits, how
/// long passes take and the real-time factor. Production uses ``SystemClock``; tests drive a ``VirtualClock`` so that
/// nothing about time depends on the machine's speed or on sleeping.
package protocol SchedulerClock: Sendable {
    /// Nanoseconds since the Unix epoch (token capture times).
    func wallNanoseconds() -> Int64
    /// Monotonic nanoseconds (waiting, pass durations, health).
    func monotonicNanoseconds() -> UInt64
}

/// The machine's clocks: CLOCK_REALTIME and CLOCK_MONOTONIC.
package struct SystemClock: SchedulerClock {
    package init() {}

    package func wallNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    package func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// A clock that moves only when told to: both readings advance together.
package final class VirtualClock: SchedulerClock {
    private let nanoseconds: Mutex<Int64>

    /// Starts at `wallNanoseconds` on the wall clock and the same number on the monotonic one.
    package init(wallNanoseconds: Int64 = 1_700_000_000_000_000_000) {
        nanoseconds = Mutex(wallNanoseconds)
    }

    package func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        nanoseconds.withLock { $0 += seconds * 1_000_000_000 + attoseconds / 1_000_000_000 }
    }

    package func wallNanoseconds() -> Int64 { nanoseconds.withLock { $0 } }
    package func monotonicNanoseconds() -> UInt64 { UInt64(nanoseconds.withLock { $0 }) }
}
