import GRPCCore
import Synchronization

/// The door of the service's Push and Subscribe calls (and of the live view's WebSocket feeds): admits them against the call limit, turns them away once the
/// daemon stops, and tells the running ones that it stops (``untilStopped()``), so each can drain and end with
/// UNAVAILABLE rather than wait to be cut off.
package final class CallGate: Sendable {
    private struct State {
        var calls = 0
        var stopping = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let limit: Int
    private let state = Mutex(State())

    package init(limit: Int) { self.limit = limit }

    /// Counts a new call in, or says why not.
    package func admit() throws(BackendRefusal) {
        try state.withLock { s throws(BackendRefusal) in
            if s.stopping { throw BackendRefusal(.shuttingDown, "the daemon is stopping") }
            guard s.calls < limit else {
                throw BackendRefusal(.limitReached, "the daemon serves at most \(limit) calls at once")
            }
            s.calls += 1
        }
    }

    /// Calls admitted and not yet ended.
    package var activeCalls: Int { state.withLock { $0.calls } }

    /// An admitted call has ended.
    package func leave() { state.withLock { $0.calls -= 1 } }

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
