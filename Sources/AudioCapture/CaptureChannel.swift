import Foundation

/// The locked home of a ``CaptureQueue``: the capture thread sends, one async consumer receives.
///
/// Everything mutable is guarded by `condition`'s lock. The producer waits on the condition only under
/// backpressure, and only on its own thread; the consumer never waits on the lock for longer than a push or pop.
final class CaptureChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: CaptureQueue
    private var waiter: CheckedContinuation<CaptureEvent?, any Error>?
    private var stopped = false
    private var stats = CaptureStatistics()

    init(policy: QueuePolicy) {
        queue = CaptureQueue(policy: policy)
    }

    /// True once the consumer stopped the session.
    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    var statistics: CaptureStatistics {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    func updateStatistics(_ body: (inout CaptureStatistics) -> Void) {
        condition.lock()
        body(&stats)
        condition.unlock()
    }

    /// Producer: enqueues `event`, waiting while a backpressure queue is full. Returns false once stopped.
    @discardableResult
    func send(_ event: CaptureEvent) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopped { return false }
            switch queue.push(event) {
            case .enqueued:
                if case .audio(let chunk) = event { stats.samplesCaptured += Int64(chunk.samples.count) }
            case .enqueuedDroppingOldest(let samples):
                if case .audio(let chunk) = event { stats.samplesCaptured += Int64(chunk.samples.count) }
                stats.chunksDropped += 1
                stats.samplesDropped += Int64(samples)
            case .full:
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
                continue
            case .closed:
                return false
            }
            deliverToWaiter()
            return true
        }
    }

    /// Producer: no more events; `error` nil is a normal end of stream.
    func finish(error: CaptureError?) {
        condition.lock()
        queue.finish(error: error)
        deliverToWaiter()
        condition.unlock()
    }

    /// Consumer: stop. Pending events are discarded, a waiting `receive` returns nil, the producer wakes up.
    func stop() {
        condition.lock()
        stopped = true
        queue.close()
        deliverToWaiter()
        condition.broadcast()
        condition.unlock()
    }

    /// Consumer: the next event, nil at the end. Cancelling the waiting task throws `CancellationError`
    /// (the session keeps running; call `stop()` to end it).
    func receive() async throws -> CaptureEvent? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CaptureEvent?, any Error>) in
                condition.lock()
                defer { condition.unlock() }
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                precondition(waiter == nil, "a CaptureSession has one consumer at a time")
                switch queue.pop() {
                case .event(let event):
                    condition.broadcast()   // room for a producer waiting under backpressure
                    continuation.resume(returning: event)
                case .finished:
                    continuation.resume(returning: nil)
                case .failed(let error):
                    continuation.resume(throwing: error)
                case .empty:
                    waiter = continuation
                }
            }
        } onCancel: {
            condition.lock()
            let pending = waiter
            waiter = nil
            condition.unlock()
            pending?.resume(throwing: CancellationError())
        }
    }

    /// With the lock held: hands the next result to a waiting consumer, if any.
    private func deliverToWaiter() {
        guard let continuation = waiter else { return }
        switch queue.pop() {
        case .empty:
            return
        case .event(let event):
            waiter = nil
            condition.broadcast()
            continuation.resume(returning: event)
        case .finished:
            waiter = nil
            continuation.resume(returning: nil)
        case .failed(let error):
            waiter = nil
            continuation.resume(throwing: error)
        }
    }
}
