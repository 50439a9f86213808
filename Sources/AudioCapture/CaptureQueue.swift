/// The queue between the capture thread and the consumer, as a plain value: no locks, no I/O, tested exhaustively.
///
/// Audio chunks are bounded by the policy's capacity. Under `newestWins` a full queue drops its oldest chunk and
/// leaves a `.dropped` marker in its place (adjacent drops merge into one marker), so the consumer learns what it
/// missed at the point where it missed it; under `backpressure` a full queue refuses the chunk and the producer
/// waits. Other events are never refused; more than `eventCapacity` of them pending drops the oldest (counted in
/// a marker too).
struct CaptureQueue {
    let policy: QueuePolicy
    let eventCapacity: Int

    /// Pending items, oldest first, from `head`.
    private var items: [CaptureEvent] = []
    private var head = 0
    private(set) var audioCount = 0
    private var eventCount = 0
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

    var pendingCount: Int { items.count - head }
    var isClosed: Bool { state == .closed }

    mutating func push(_ event: CaptureEvent) -> PushResult {
        guard state == .open else { return .closed }
        switch event {
        case .audio(let chunk):
            if audioCount >= policy.capacity {
                guard case .newestWins = policy else { return .full }
                dropOldestAudio()
                items.append(event)
                audioCount += 1
                return .enqueuedDroppingOldest(samples: chunk.samples.count)
            }
            items.append(event)
            audioCount += 1
        case .dropped:
            items.append(event)
        default:
            if eventCount >= eventCapacity { dropOldestEvent() }
            items.append(event)
            eventCount += 1
        }
        return .enqueued
    }

    mutating func pop() -> PopResult {
        if state == .closed { return .finished }
        guard head < items.count else {
            if case .finished(let error) = state { return error.map { .failed($0) } ?? .finished }
            return .empty
        }
        var event = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        switch event {
        case .audio(var chunk):
            audioCount -= 1
            if dropSinceLastAudio {
                chunk.flags.insert(.afterDrop)
                dropSinceLastAudio = false
                event = .audio(chunk)
            }
        case .dropped:
            dropSinceLastAudio = true
        default:
            eventCount -= 1
        }
        return .event(event)
    }

    /// The producer is done; `error` nil means a normal end of stream.
    mutating func finish(error: CaptureError?) {
        if state == .open { state = .finished(error) }
    }

    /// The consumer is done: pending items are discarded.
    mutating func close() {
        state = .closed
        items.removeAll()
        head = 0
        audioCount = 0
        eventCount = 0
    }

    private mutating func dropOldestAudio() {
        guard let i = items[head...].firstIndex(where: { if case .audio = $0 { true } else { false } }),
              case .audio(let chunk) = items[i] else { return }
        audioCount -= 1
        if i > head, case .dropped(var marker) = items[i - 1] {
            marker.chunks += 1
            marker.samples += Int64(chunk.samples.count)
            items[i - 1] = .dropped(marker)
            items.remove(at: i)
        } else {
            items[i] = .dropped(QueueDrop(chunks: 1, samples: Int64(chunk.samples.count), firstSample: chunk.firstSample))
        }
    }

    private mutating func dropOldestEvent() {
        guard let i = items[head...].firstIndex(where: {
            switch $0 {
            case .audio, .dropped: false
            default: true
            }
        }) else { return }
        eventCount -= 1
        if i > head, case .dropped(var marker) = items[i - 1] {
            marker.events += 1
            items[i - 1] = .dropped(marker)
            items.remove(at: i)
        } else {
            let at: Int64 = items[i...].lazy.compactMap { if case .audio(let c) = $0 { c.firstSample } else { nil } }
                .first ?? 0
            items[i] = .dropped(QueueDrop(chunks: 0, samples: 0, firstSample: at, events: 1))
        }
    }
}
