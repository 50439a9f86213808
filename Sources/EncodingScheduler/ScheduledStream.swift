import EarshotTypes
import QueuePolicies
import Synchronization

/// One stream in the ``Scheduler``: an inbox that producers append to from any thread, and a ``StreamWorker`` that
/// only the compute thread holding the claim touches.
package final class ScheduledStream: @unchecked Sendable {
    package typealias Kind = DaemonStatus.StreamKind

    package enum InboxItem {
        /// Audio at the stream's input rate. `firstSample` (live streams) is its 16 kHz timeline position; nil means
        /// "right after the previous audio". `wall` is when the last sample arrived (ns since the epoch).
        case audio([Float], firstSample: Int64?, wall: Int64)
        /// An event to pass on in order with the tokens.
        case event(EventKind, at: Int64, count: UInt64, message: String)
        /// No more audio: flush under the end-of-clip rule, then report `ended`.
        case finish
    }

    /// **Live backlog, oldest dropped**: live audio is droppable, weighed in samples; a dropped chunk becomes an
    /// `overrun` event at its position, and adjacent drops merge into one. Pushed audio and events are kept.
    package enum BacklogPolicy: DropOldestPolicy {
        package struct Overrun {
            var at: Int64
            var samples: UInt64
        }

        package static func lane(of item: InboxItem) -> (index: Int, weight: Int)? {
            if case .audio(let samples, _?, _) = item { (0, samples.count) } else { nil }
        }

        package static func marker(for dropped: InboxItem, followedBy later: some Sequence<InboxItem>) -> Overrun {
            guard case .audio(let samples, let at, _) = dropped else { preconditionFailure("only live audio drops") }
            return Overrun(at: at ?? 0, samples: UInt64(samples.count))
        }

        package static func merge(_ dropped: InboxItem, into marker: inout Overrun) -> Bool {
            guard case .audio(let samples, _, _) = dropped else { return false }
            marker.samples += UInt64(samples.count)
            return true
        }

        package static var mergesAcrossElements: Bool { false }

        static let message = "encoder fell behind real time: audio discarded"
    }

    fileprivate struct Shared {
        var inbox: DropOldestQueue<BacklogPolicy>
        /// Input-rate samples in `inbox` (live and pushed).
        var inboxSamples = 0
        /// Tokens delivered to a pushed stream's transport but not yet written.
        var unsentTokens = 0
        /// Pushed audio admitted so far (input-rate samples), and the tokens the encoder has produced from it (as of
        /// the last finished turn): what is admitted and not yet a token is held somewhere on the compute side.
        var pushedInput: Int64 = 0
        var tokensEmitted: Int64 = 0
        /// A compute thread holds audio it took from the inbox (between `takeInbox` and `turnEnded`).
        var computing = false
        var waiter: CheckedContinuation<Void, Never>?
        var cancelled = false
        var finishQueued = false
        /// Samples accepted, at the input rate, and samples lost to overruns (16 kHz).
        var samplesSubmitted: Int64 = 0
        var overrunSamples: Int64 = 0
        /// When the inbox last went from empty to non-empty (monotonic ns), for the health check.
        var pendingSince: UInt64?
    }

    package let id: Int
    package let name: String
    package let kind: Kind
    package let inputRate: Int
    package let sink: any TokenSink
    private unowned let scheduler: Scheduler
    private let shared: Mutex<Shared>

    /// Guarded by the scheduler's lock.
    var claimed = false
    /// Guarded by the scheduler's lock: ended or cancelled; the scheduler forgets it.
    var done = false
    /// Touched only by the compute thread that holds the claim.
    let worker: StreamWorker

    init(id: Int, name: String, kind: Kind, inputRate: Int, sink: any TokenSink, scheduler: Scheduler) throws {
        self.id = id
        self.name = name
        self.kind = kind
        self.inputRate = inputRate
        self.sink = sink
        self.scheduler = scheduler
        shared = Mutex(Shared(inbox: DropOldestQueue(capacity: max(1, scheduler.configuration.liveBacklogSamples))))
        worker = try StreamWorker(model: scheduler.model, blockTokens: scheduler.configuration.blockTokens,
                                  inputRate: inputRate, maxGapFill: scheduler.configuration.maxGapFillSamples,
                                  voiceActivity: scheduler.configuration.voiceActivity, clock: scheduler.clock)
    }

    // MARK: Producers

    /// Live audio (16 kHz, at timeline position `firstSample`) in real time. Never waits: past the live backlog the
    /// oldest queued audio is dropped and an `overrun` event takes its place. Returns the samples dropped now.
    @discardableResult
    package func submitLive(_ samples: [Float], firstSample: Int64, wall: Int64) -> Int {
        let now = scheduler.clock.monotonicNanoseconds()
        let dropped: Int = shared.withLock { s in
            guard !s.cancelled, !s.finishQueued else { return 0 }
            s.noteWork(now: now)
            let shed = s.inbox.push(.audio(samples, firstSample: firstSample, wall: wall))
            s.inboxSamples += samples.count - shed.weight
            s.samplesSubmitted += Int64(samples.count)
            s.overrunSamples += Int64(shed.weight)
            return shed.weight
        }
        scheduler.wake()
        return dropped
    }

    /// Live audio under backpressure (standard input, a file read as fast as possible): waits while the live
    /// backlog has no room for it, then queues it, so nothing is dropped. Returns at once if the stream was
    /// cancelled or finished, or the task is cancelled.
    package func submitLiveWaiting(_ samples: [Float], firstSample: Int64, wall: Int64) async {
        let capacity = max(1, scheduler.configuration.liveBacklogSamples)
        let fits: @Sendable (Shared) -> Bool = { s in
            s.inboxSamples == 0 || s.inboxSamples + samples.count <= capacity
        }
        while !Task.isCancelled {
            let now = scheduler.clock.monotonicNanoseconds()
            let queued: Bool? = shared.withLock { s in
                guard !s.cancelled, !s.finishQueued else { return false }
                guard fits(s) else { return nil }
                s.noteWork(now: now)
                s.inbox.push(.audio(samples, firstSample: firstSample, wall: wall))
                s.inboxSamples += samples.count
                s.samplesSubmitted += Int64(samples.count)
                return true
            }
            switch queued {
            case true?:
                scheduler.wake()
                return
            case false?:
                return
            case nil:
                await waitForRoom(until: fits)
            }
        }
    }

    /// Pushed audio at the input rate, right after the previous. It enters in pieces of at most
    /// `pushPieceSamples` (16 kHz samples' worth), each only once the stream holds less than its push budget
    /// (backpressure: the caller waits, whatever the chunk's size or rate). Returns once the last piece is in, or at
    /// once if the stream was cancelled.
    package func submitPushed(_ samples: [Float]) async {
        let piece = max(1, scheduler.configuration.pushPieceSamples * inputRate / 16_000)
        var start = 0
        while start < samples.count {
            await waitForRoom { [unowned self] in self.pushHasRoom($0) }
            if Task.isCancelled { return }
            let end = min(samples.count, start + piece)
            let wall = scheduler.clock.wallNanoseconds(), now = scheduler.clock.monotonicNanoseconds()
            let held: Int? = shared.withLock { s in
                guard !s.cancelled, !s.finishQueued else { return nil }
                s.noteWork(now: now)
                s.inbox.push(.audio(start == 0 && end == samples.count ? samples : Array(samples[start..<end]),
                                    firstSample: nil, wall: wall))
                s.inboxSamples += end - start
                s.samplesSubmitted += Int64(end - start)
                s.pushedInput += Int64(end - start)
                return usage(s)
            }
            guard let held else { return }
            scheduler.notePushedHeld(held)
            scheduler.wake()
            start = end
        }
    }

    /// An event to pass on in order with the audio around it.
    package func submitEvent(_ kind: EventKind, at: Int64, count: UInt64 = 0, message: String = "") {
        let now = scheduler.clock.monotonicNanoseconds()
        shared.withLock { s in
            guard !s.cancelled, !s.finishQueued else { return }
            s.noteWork(now: now)
            s.inbox.push(.event(kind, at: at, count: count, message: message))
        }
        scheduler.wake()
    }

    /// No more audio: the rest is encoded under the end-of-clip rule, then the sink hears `ended`.
    package func finish() {
        let now = scheduler.clock.monotonicNanoseconds()
        let queued: Bool = shared.withLock { s in
            guard !s.cancelled, !s.finishQueued else { return false }
            s.finishQueued = true
            s.noteWork(now: now)
            s.inbox.push(.finish)
            return true
        }
        if queued { scheduler.wake() }
    }

    /// Forgets the stream without finishing it (its client went away). Wakes a waiting producer.
    package func cancel() {
        let waiter = shared.withLock { s in
            s.cancelled = true
            s.inbox.removeAll()
            s.inboxSamples = 0
            return s.waiter.take()
        }
        waiter?.resume()
        scheduler.wake()
    }

    package var isCancelled: Bool { shared.withLock { $0.cancelled } }
    /// How long work has been waiting for a compute thread, in nanoseconds (0 if none waits).
    func waitingNanoseconds(now: UInt64) -> UInt64 {
        shared.withLock { s in s.pendingSince.map { now > $0 ? now - $0 : 0 } ?? 0 }
    }
    package var samplesSubmitted: Int64 { shared.withLock { $0.samplesSubmitted } }
    package var overrunSamples: Int64 { shared.withLock { $0.overrunSamples } }
    /// Unencoded audio waiting, in input-rate samples.
    package var backlogSamples: Int { shared.withLock { $0.inboxSamples } }
    /// Who watches this stream's log-mel frames.
    package var melTap: MelTap { worker.melTap }
    /// Tokens produced so far (a snapshot the worker publishes after each pass).
    package var tokensProduced: UInt64 { worker.published.withLock { $0.tokens } }
    /// Seconds of ended speech runs so far.
    package var speechSeconds: Double { worker.published.withLock { $0.speechSeconds } }
    /// Ended (its end was reported) or cancelled: status counts it as gone.
    package var isGone: Bool { isCancelled || worker.published.withLock { $0.ended } }
    /// 16 kHz samples' worth of pushed audio and unsent tokens the stream holds now (what the push budget bounds).
    package var pushedHeldSamples: Int { shared.withLock { usage($0) } }
    /// True while a pushed stream's producer waits for room.
    package var producerIsWaiting: Bool { shared.withLock { $0.waiter != nil } }

    // MARK: Compute side

    /// Moves everything queued to the end of `items` (the compute thread's array, so nothing is allocated once it
    /// has grown) and returns how many (the scheduler's lock is held; the stream's own lock is taken inside).
    /// Overrun markers become `overrun` events where the audio was lost.
    func takeInbox(into items: inout [InboxItem]) -> Int {
        let before = items.count
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            s.inbox.popAll { entry in
                switch entry {
                case .element(let item): items.append(item)
                case .marker(let overrun): items.append(.event(.overrun, at: overrun.at, count: overrun.samples,
                                                               message: BacklogPolicy.message))
                }
            }
            s.inboxSamples = 0
            s.pendingSince = nil
            if items.count > before { s.computing = true }
            // A live producer waiting for backlog room may go on now (it checks its own rule again).
            return pushHasRoom(s) ? s.waiter.take() : nil
        }
        waiter?.resume()
        return items.count - before
    }

    /// The compute thread is done with what it took: the encoder has produced `tokens` tokens in all. The audio
    /// they cover no longer counts against the push budget.
    func turnEnded(tokensProduced tokens: UInt64) {
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            s.computing = false
            s.tokensEmitted = Int64(tokens)
            return pushHasRoom(s) ? s.waiter.take() : nil
        }
        waiter?.resume()
    }

    /// The transport wrote one of this (pushed) stream's tokens: room for more audio.
    package func tokenSent() {
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            s.unsentTokens -= 1
            return pushHasRoom(s) ? s.waiter.take() : nil
        }
        waiter?.resume()
    }

    /// The sink handed `count` tokens of a pushed stream to its transport.
    package func tokensQueued(_ count: Int) {
        shared.withLock { $0.unsentTokens += count }
    }

    // MARK: Budget

    private var budget: Int { scheduler.configuration.pushBudgetSamples }

    /// 16 kHz samples' worth of pushed audio held now: admitted but not yet turned into tokens (in the inbox, the
    /// resampler, the log-mel frontend, the encoder), plus tokens not yet written to the client.
    private func usage(_ s: Shared) -> Int {
        let admitted = s.pushedInput * 16_000 / Int64(inputRate)
        let perToken = scheduler.facts.samplesPerToken
        let inTokens = s.tokensEmitted * Int64(perToken)
        return Int(max(0, admitted - inTokens)) + s.unsentTokens * perToken
    }

    /// Whether another piece may enter: below the budget, or when nothing is queued, computing or unsent (the
    /// encoder waits for more audio to complete a block, so waiting would never end).
    private func pushHasRoom(_ s: Shared) -> Bool {
        s.cancelled || usage(s) < budget || (s.inbox.isEmpty && !s.computing && s.unsentTokens == 0)
    }

    /// Waits until `hasRoom` (checked under the lock), the stream is cancelled or the task is. Whoever frees room
    /// (``takeInbox(into:)``, ``turnEnded(tokensProduced:)``, ``tokenSent()``) wakes the waiter when the push rule
    /// (``pushHasRoom(_:)``) holds, which it always does for a live stream; the waiter checks its own rule again.
    private func waitForRoom(until hasRoom: @Sendable (Shared) -> Bool) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready: Bool = shared.withLock { s in
                    if s.cancelled || hasRoom(s) || Task.isCancelled { return true }
                    s.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = shared.withLock { $0.waiter.take() }
            waiter?.resume()
        }
    }
}

extension ScheduledStream.Shared {
    mutating func noteWork(now: UInt64) {
        if inbox.isEmpty { pendingSince = now }
    }
}

/// A pushed stream's tokens hold its budget until the transport has written them (``tokenSent()``).
extension ScheduledStream: TokenCredit {}
