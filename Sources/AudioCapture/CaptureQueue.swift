import QueuePolicies

/// The queue between the capture thread and the consumer, as a plain value: no locks, no I/O, tested exhaustively.
///
/// Audio chunks are bounded by the policy's capacity. Under `newestWins` a full queue drops its oldest chunk and
/// leaves a `.dropped` marker in its place (adjacent drops merge into one marker), so the consumer learns what it
/// missed at the point where it missed it; under `backpressure` a full queue refuses the chunk and the producer
/// waits. Other events are never refused; more than `eventCapacity` of them pending drops the oldest (counted in
/// a marker too). Both bounds are lanes of one ``DropOldestQueue`` (``DropPolicy``).
struct CaptureQueue {
    let policy: QueuePolicy
    let eventCapacity: Int

    /// Lane 0: audio chunks, one each (a `backpressure` queue never lets it overflow); lane 1: device events, one
    /// each. A dropped chunk or event becomes a ``QueueDrop`` at its place; adjacent drops merge.
    enum DropPolicy: DropOldestPolicy {
        static func lane(of event: CaptureEvent) -> (index: Int, weight: Int)? {
            switch event {
            case .audio: (0, 1)
            case .dropped: nil
            case .discontinuity, .deviceLost, .deviceRestored: (1, 1)
            }
        }

        static func marker(for dropped: CaptureEvent, followedBy later: some Sequence<CaptureEvent>) -> QueueDrop {
            if case .audio(let chunk) = dropped {
                return QueueDrop(chunks: 1, samples: Int64(chunk.samples.count), firstSample: chunk.firstSample)
            }
            // An event has no place of its own on the timeline: the audio after it has.
            let next = later.lazy.compactMap { if case .audio(let c) = $0 { c.firstSample } else { nil } }
            return QueueDrop(chunks: 0, samples: 0, firstSample: next.first { _ in true } ?? 0, events: 1)
        }

        static func merge(_ dropped: CaptureEvent, into marker: inout QueueDrop) -> Bool {
            if case .audio(let chunk) = dropped {
                marker.chunks += 1
                marker.samples += Int64(chunk.samples.count)
            } else {
                marker.events += 1
            }
            return true
        }

        static var mergesAcrossElements: Bool { false }
    }

    private var items: DropOldestQueue<DropPolicy>
    /// A `.dropped` marker was popped and the next audio chunk gets `.afterDrop`.
    private var dropSinceLastAudio = false
    private var state = State.open

    private enum State: Equatable {
        case open
        /// The producer finished: pending items are still delivered, then the end (or the error).
        case finished(CaptureError?)
        /// The consumer stopped: nothing more is delivered.
        case closed
    }

    init(policy: QueuePolicy, eventCapacity: Int = 256) {
        precondition(policy.capacity > 0, "queue capacity must be positive")
        self.policy = policy
        self.eventCapacity = eventCapacity
        items = DropOldestQueue(capacities: [policy.capacity, eventCapacity])
    }

    enum PushResult: Equatable {
        case enqueued
        /// Enqueued after dropping the oldest chunk (its sample count).
        case enqueuedDroppingOldest(samples: Int)
        /// Backpressure: full; try again after the consumer pops.
        case full
        /// Finished or closed: the item was discarded.
        case closed
    }

    enum PopResult: Equatable {
        case event(CaptureEvent)
        case empty
        case finished
        case failed(CaptureError)
    }

    var pendingCount: Int { items.count }
    /// Audio chunks queued.
    var audioCount: Int { items.count(inLane: 0) }
    var isClosed: Bool { state == .closed }

    mutating func push(_ event: CaptureEvent) -> PushResult {
        guard state == .open else { return .closed }
        if case .audio = event, case .backpressure = policy, items.count(inLane: 0) >= policy.capacity {
            return .full
        }
        let shed = items.push(event)
        if case .audio(let chunk)? = shed.last {
            return .enqueuedDroppingOldest(samples: chunk.samples.count)
        }
        return .enqueued
    }

    mutating func pop() -> PopResult {
        if state == .closed { return .finished }
        guard let entry = items.pop() else {
            if case .finished(let error) = state { return error.map { .failed($0) } ?? .finished }
            return .empty
        }
        switch entry {
        case .marker(let drop):
            dropSinceLastAudio = true
            return .event(.dropped(drop))
        case .element(.audio(var chunk)):
            if dropSinceLastAudio {
                chunk.flags.insert(.afterDrop)
                dropSinceLastAudio = false
            }
            return .event(.audio(chunk))
        case .element(let event):
            if case .dropped = event { dropSinceLastAudio = true }
            return .event(event)
        }
    }

    /// The producer is done; `error` nil means a normal end of stream.
    mutating func finish(error: CaptureError?) {
        if state == .open { state = .finished(error) }
    }

    /// The consumer is done: pending items are discarded.
    mutating func close() {
        state = .closed
        items.removeAll()
    }
}
