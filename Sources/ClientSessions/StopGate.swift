import Synchronization

/// A transport's door for the daemon's stop: turns new clients away once the daemon stops, and tells the running ones
/// that it stops (``untilStopped()``), so each can drain and end with its transport's "stopping" answer rather than
/// wait to be cut off. (How many clients are served at once is ``SessionHost/admit(_:limits:activity:)``'s: one
/// registry for every transport.)
package final class StopGate: Sendable {
    private struct State {
        var stopping = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// Lets a new client in, unless the daemon stops.
    package func admit() throws(SessionRefusal) {
        if state.withLock({ $0.stopping }) { throw SessionRefusal(.shuttingDown, "the daemon is stopping") }
    }

    /// The daemon stops: no more calls, and every ``untilStopped()`` returns.
    package func stop() {
        let waiters = state.withLock { s in
            s.stopping = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the daemon stops, or when the task is cancelled (check `Task.isCancelled` to tell which).
    package func untilStopped() async {
        let id = state.withLock { s in
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s in
                    if s.stopping || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Runs `body` until it returns or the daemon stops, whichever comes first; on a stop `body` is cancelled (and
    /// its error, if any, dropped). True if the stop came first.
    package func unlessStopped(_ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return false
            }
            group.addTask {
                await self.untilStopped()
                return !Task.isCancelled
            }
            defer { group.cancelAll() }
            // The first to finish decides: the watcher is cancelled only after that.
            return try await group.next() ?? false
        }
    }
}
