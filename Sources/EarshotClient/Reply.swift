import Synchronization

/// One answer that will arrive later: the reader fulfils it, the caller awaits ``value()``. Registering it before
/// sending the request keeps the exchange in one task (no unstructured task to do the write).
final class Reply<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, EarshotError>?
        var waiter: CheckedContinuation<Value, any Error>?
    }

    private let state = Mutex(State())

    init() {}

    /// Sets the answer (only the first call counts) and wakes the waiter.
    func fulfil(_ result: Result<Value, EarshotError>) {
        let waiter = state.withLock { s -> CheckedContinuation<Value, any Error>? in
            guard s.result == nil else { return nil }
            s.result = result
            return s.waiter.take()
        }
        waiter?.resume(with: result.mapError { $0 as any Error })
    }

    /// Waits for the answer. Cancellation fails it with `closed`.
    func value() async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                let ready = state.withLock { s -> Result<Value, EarshotError>? in
                    if let result = s.result { return result }
                    s.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
            }
        } onCancel: {
            fulfil(.failure(EarshotError(.closed, "cancelled while waiting for the server")))
        }
    }
}
