import ClientSessions
import Synchronization

/// The door of the service's Push and Subscribe calls: turns them away once the daemon stops, and tells the running
/// ones that it stops (``untilStopped()``), so each can drain and end with UNAVAILABLE rather than wait to be cut off.
/// (How many calls are served at once is the session layer's: one registry for every transport.)
final class CallGate: Sendable {
    private struct State {
        var stopping = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Lets a new call in, unless the daemon stops.
    func admit() throws(SessionRefusal) {
        if state.withLock({ $0.stopping }) { throw SessionRefusal(.shuttingDown, "the daemon is stopping") }
    }

    /// The daemon stops: no more calls, and every ``untilStopped()`` returns.
    func stop() {
        let waiters = state.withLock { s in
            s.stopping = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the daemon stops, or when the task is cancelled (check `Task.isCancelled` to tell which).
    func untilStopped() async {
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
    func unlessStopped(_ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
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
