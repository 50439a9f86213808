import Foundation
import Gemma4Audio
import Resampling
import Synchronization
import VoiceActivity
import WireProtocol

/// One stream in the ``Scheduler``: an inbox that producers append to from any thread, and a ``StreamWorker`` that
/// only the compute thread holding the claim touches.
final class ScheduledStream: PushCredit, @unchecked Sendable {
    enum Kind: String, Sendable {
        /// Captured from a device or file, fanned out to subscribers.
        case live
        /// Pushed by one client, for that client.
        case pushed
    }

    enum InboxItem {
        /// Audio at the stream's input rate. `firstSample` (live streams) is its 16 kHz timeline position; nil means
        /// "right after the previous audio". `wall` is when the last sample arrived (ns since the epoch).
        case audio([Float], firstSample: Int64?, wall: Int64)
        /// An event to pass on in order with the tokens.
        case event(EventKind, at: Int64, count: UInt64, message: String)
        /// No more audio: flush under the end-of-clip rule, then report `ended`.
        case finish
    }

    fileprivate struct Shared {
        var inbox: [InboxItem] = []
        /// Input-rate samples in `inbox`.
        var inboxSamples = 0
        /// Tokens delivered to a pushed stream's connection but not yet written.
        var unsentTokens = 0
        var waiter: CheckedContinuation<Void, Never>?
        var cancelled = false
        var finishQueued = false
        /// Samples accepted, at the input rate, and samples lost to overruns (16 kHz).
        var samplesSubmitted: Int64 = 0
        var overrunSamples: Int64 = 0
        /// When the inbox last went from empty to non-empty (uptime ns), for the health check.
        var pendingSince: UInt64?
    }

    let id: Int
    let name: String
    let kind: Kind
    let inputRate: Int
    let sink: any TokenSink
    private unowned let scheduler: Scheduler
    private let shared = Mutex(Shared())

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
        worker = try StreamWorker(model: scheduler.model, blockTokens: scheduler.configuration.blockTokens,
                                  inputRate: inputRate, maxGapFill: scheduler.configuration.maxGapFillSamples,
                                  voiceActivity: scheduler.configuration.voiceActivity)
    }

    // MARK: Producers

    /// Live audio (16 kHz, at timeline position `firstSample`). Never waits: past the live backlog the oldest
    /// queued audio is dropped and an `overrun` event takes its place.
    func submitLive(_ samples: [Float], firstSample: Int64, wall: Int64) {
        let limit = scheduler.configuration.liveBacklogSamples
        shared.withLock { s in
            guard !s.cancelled, !s.finishQueued else { return }
            s.noteWork()
            s.inbox.append(.audio(samples, firstSample: firstSample, wall: wall))
            s.inboxSamples += samples.count
            s.samplesSubmitted += Int64(samples.count)
            while s.inboxSamples > limit,
                  let i = s.inbox.firstIndex(where: { if case .audio = $0 { true } else { false } }),
                  case .audio(let dropped, let at, _) = s.inbox[i] {
                s.inboxSamples -= dropped.count
                s.overrunSamples += Int64(dropped.count)
                let lost = UInt64(dropped.count)
                if i > 0, case .event(.overrun, let firstAt, let count, _) = s.inbox[i - 1] {
                    s.inbox[i - 1] = .event(.overrun, at: firstAt, count: count + lost,
                                            message: "encoder fell behind real time: audio discarded")
                    s.inbox.remove(at: i)
                } else {
                    s.inbox[i] = .event(.overrun, at: at ?? 0, count: lost,
                                        message: "encoder fell behind real time: audio discarded")
                }
            }
        }
        scheduler.wake()
    }

    /// Pushed audio at the input rate, right after the previous. Waits while the push budget is used up
    /// (backpressure). Returns at once if the stream was cancelled.
    func submitPushed(_ samples: [Float]) async {
        let accepted: Bool = shared.withLock { s in
            guard !s.cancelled, !s.finishQueued else { return false }
            s.noteWork()
            s.inbox.append(.audio(samples, firstSample: nil, wall: Self.now()))
            s.inboxSamples += samples.count
            s.samplesSubmitted += Int64(samples.count)
            return true
        }
        guard accepted else { return }
        scheduler.wake()
        await waitForRoom()
    }

    /// An event to pass on in order with the audio around it.
    func submitEvent(_ kind: EventKind, at: Int64, count: UInt64 = 0, message: String = "") {
        shared.withLock { s in
            guard !s.cancelled, !s.finishQueued else { return }
            s.noteWork()
            s.inbox.append(.event(kind, at: at, count: count, message: message))
        }
        scheduler.wake()
    }

    /// No more audio: the rest is encoded under the end-of-clip rule, then the sink hears `ended`.
    func finish() {
        let queued: Bool = shared.withLock { s in
            guard !s.cancelled, !s.finishQueued else { return false }
            s.finishQueued = true
            s.noteWork()
            s.inbox.append(.finish)
            return true
        }
        if queued { scheduler.wake() }
    }

    /// Forgets the stream without finishing it (its client went away). Wakes a waiting producer.
    func cancel() {
        let waiter = shared.withLock { s in
            s.cancelled = true
            s.inbox.removeAll()
            s.inboxSamples = 0
            return s.waiter.take()
        }
        waiter?.resume()
        scheduler.wake()
    }

    var isCancelled: Bool { shared.withLock { $0.cancelled } }
    /// How long work has been waiting for a compute thread, in nanoseconds (0 if none waits).
    func waitingNanoseconds(now: UInt64) -> UInt64 {
        shared.withLock { s in s.pendingSince.map { now > $0 ? now - $0 : 0 } ?? 0 }
    }
    var samplesSubmitted: Int64 { shared.withLock { $0.samplesSubmitted } }
    var overrunSamples: Int64 { shared.withLock { $0.overrunSamples } }
    /// Tokens produced so far (read without the claim: a racy but harmless snapshot for status).
    var tokensProduced: UInt64 { worker.tokensProducedSnapshot.withLock { $0 } }

    // MARK: Compute side

    /// Takes everything queued (the scheduler's lock is held; the stream's own lock is taken inside).
    func takeInbox() -> [InboxItem] {
        let (items, waiter) = shared.withLock { s -> ([InboxItem], CheckedContinuation<Void, Never>?) in
            let items = s.inbox
            s.inbox.removeAll(keepingCapacity: true)
            s.inboxSamples = 0
            s.pendingSince = nil
            return (items, usage(s) < budget ? s.waiter.take() : nil)
        }
        waiter?.resume()
        return items
    }

    /// The writer sent one of this (pushed) stream's tokens.
    func tokenSent() {
        let waiter = shared.withLock { s -> CheckedContinuation<Void, Never>? in
            s.unsentTokens -= 1
            return usage(s) < budget ? s.waiter.take() : nil
        }
        waiter?.resume()
    }

    /// The worker handed `count` tokens of a pushed stream to its connection.
    func tokensQueued(_ count: Int) {
        shared.withLock { $0.unsentTokens += count }
    }

    // MARK: Budget

    private var budget: Int { scheduler.configuration.pushBudgetSamples }

    /// 16 kHz samples' worth of work outstanding.
    private func usage(_ s: Shared) -> Int {
        s.inboxSamples * 16_000 / inputRate + s.unsentTokens * TokenTimeline.samplesPerToken
    }

    private func waitForRoom() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready: Bool = shared.withLock { s in
                    if s.cancelled || usage(s) < budget || Task.isCancelled { return true }
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

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

extension ScheduledStream.Shared {
    mutating func noteWork() {
        if inbox.isEmpty { pendingSince = DispatchTime.now().uptimeNanoseconds }
    }
}

/// A stream's encoder side: the `EncoderStream`, the resampler for pushed audio, the ``TokenTimeline``, and the
/// voice-activity detector of the current segment. Owned by one compute thread at a time.
///
/// Every 16 kHz sample the encoder accepts (filled gaps included) goes to the detector too. Its events go to the
/// sink as they are computed and into the timeline (for the `speech` flag of the tokens described after them). A
/// segment's end (a long gap, or `finish`) finishes its detector (the last partial window zero-padded) and, if speech
/// is still open, ends it at one past the segment's last sample; a new segment gets a new detector at its start.
final class StreamWorker {
    let encoder: EncoderStream
    private let model: Gemma4AudioModel
    private let resampler: Resampler?
    private var timeline = TokenTimeline()
    private let maxGapFill: Int
    private let voiceActivity: VoiceActivityConfiguration?
    /// The current segment's detector (nil without voice activity).
    private var vad: SileroVADStream?
    /// `finish` was consumed.
    private(set) var isFinished = false
    private var endReported = false
    private var resampled: [Float] = []
    /// For status, read from other threads.
    let tokensProducedSnapshot = Mutex<UInt64>(0)

    init(model: Gemma4AudioModel, blockTokens: Int, inputRate: Int, maxGapFill: Int,
         voiceActivity: VoiceActivityConfiguration? = nil) throws {
        self.model = model
        encoder = EncoderStream(model: model, blockTokens: blockTokens)
        resampler = inputRate == 16_000 ? nil : try Resampler(inputRate: inputRate, outputRate: 16_000, quality: .best)
        self.maxGapFill = maxGapFill
        self.voiceActivity = voiceActivity
        startDetector()
    }

    /// Tokens of every segment so far.
    var tokensProduced: UInt64 { timeline.tokenBase + UInt64(encoder.tokensEncoded) }

    /// Feeds the inbox to the encoder and the detector. Gaps in live audio are filled or end the segment (which
    /// encodes and emits the old segment's tail alone, with `scratch`).
    func consume(_ items: [ScheduledStream.InboxItem], scratch: EncoderScratch, vadScratch: SileroVADScratch,
                 sink: any TokenSink) {
        let detection = Detection(scratch: vadScratch, sink: sink)
        for item in items {
            guard !isFinished else { return }
            switch item {
            case .audio(let samples, let firstSample, let wall):
                if let firstSample {
                    consumeLive(samples, at: firstSample, wall: wall, scratch: scratch, detection: detection)
                } else if let resampler {
                    resampled.removeAll(keepingCapacity: true)
                    try? resampler.process(samples, into: &resampled)
                    feed(resampled, wall: wall, detection)
                } else {
                    feed(samples, wall: wall, detection)
                }
            case .event(let kind, let at, let count, let message):
                sink.event(kind, at: at, count: count, message: message)
            case .finish:
                if let resampler {
                    resampled.removeAll(keepingCapacity: true)
                    try? resampler.finish(into: &resampled)
                    feed(resampled, wall: ScheduledStream.now(), detection)
                }
                finishDetector(detection)
                encoder.finish()
                isFinished = true
            }
        }
    }

    private func consumeLive(_ samples: [Float], at position: Int64, wall: Int64, scratch: EncoderScratch,
                             detection: Detection) {
        var samples = samples[...]
        let expected = timeline.nextPosition
        if position < expected {
            samples = samples.dropFirst(Int(min(Int64(samples.count), expected - position)))   // overlap: skip
            if samples.isEmpty { return }
        } else if position > expected {
            let gap = position - expected
            let chunkNanoseconds = Int64(samples.count) * 1_000_000_000 / 16_000
            if timeline.fed == 0 && timeline.segmentCount == 1 && encoder.tokensEncoded == 0 {
                // The stream's first audio starts late: begin the first segment there, no discontinuity.
                timeline = TokenTimeline(startingAt: position)
                startDetector()
            } else if gap <= Int64(maxGapFill) {
                let zeros = [Float](repeating: 0, count: Int(gap))
                zeros.withUnsafeBufferPointer {
                    timeline.feed($0, wallNanoseconds: wall - chunkNanoseconds, gapFilled: true)
                    encoder.accept($0)
                    detect($0, detection)
                }
            } else {
                endSegment(scratch: scratch, detection: detection)
                timeline.startSegment(at: position, tokensInSegment: encoder.tokensEncoded)
                encoder.reset()
                startDetector()
            }
        }
        samples.withUnsafeBufferPointer { feed($0, wall: wall, detection) }
    }

    private func feed(_ samples: [Float], wall: Int64, _ detection: Detection) {
        samples.withUnsafeBufferPointer { feed($0, wall: wall, detection) }
    }

    private func feed(_ samples: UnsafeBufferPointer<Float>, wall: Int64, _ detection: Detection) {
        guard !samples.isEmpty else { return }
        timeline.feed(samples, wallNanoseconds: wall)
        encoder.accept(samples)
        detect(samples, detection)
    }

    // MARK: Voice activity

    /// What the detector needs during one `consume`: the compute thread's scratch, and where events go.
    struct Detection {
        let scratch: SileroVADScratch
        let sink: any TokenSink
    }

    /// A fresh detector whose window 0 starts at the current segment's first sample.
    private func startDetector() {
        vad = voiceActivity.map {
            SileroVADStream(weights: $0.weights, events: $0.events, origin: Int(timeline.segmentStart))
        }
    }

    /// Runs the detector over samples the encoder just accepted.
    private func detect(_ samples: UnsafeBufferPointer<Float>, _ detection: Detection) {
        vad?.accept(samples, scratch: detection.scratch) { window in
            if let event = window.event { speech(event, detection) }
        }
    }

    /// The segment ends: its last partial window, then the end of speech still open, at one past its last sample.
    private func finishDetector(_ detection: Detection) {
        guard let vad else { return }
        vad.finish(scratch: detection.scratch) { window in
            if let event = window.event { speech(event, detection) }
        }
        if vad.events.triggered { speech(.end(Int(timeline.nextPosition)), detection) }
    }

    /// Hands an event to the sink, and to the timeline for the `speech` flag.
    private func speech(_ event: SpeechEvent, _ detection: Detection) {
        switch event {
        case .start(let at):
            timeline.speechStarted(at: Int64(at))
            detection.sink.event(.speechStart, at: Int64(at), count: 0, message: "")
        case .end(let at):
            timeline.speechEnded(at: Int64(at))
            detection.sink.event(.speechEnd, at: Int64(at), count: 0, message: "")
        }
    }

    /// Finishes the current segment and emits its tail (alone, outside the batched passes).
    private func endSegment(scratch: EncoderScratch, detection: Detection) {
        finishDetector(detection)
        encoder.finish()
        while model.encodePass([encoder], scratch: scratch) > 0 { emitOutput(to: detection.sink) }
    }

    /// Hands the tokens the last pass produced to `sink`, with their metadata.
    func emitOutput(to sink: any TokenSink) {
        let out = encoder.takeOutput()
        guard out.count > 0 else { return }
        let last = encoder.isFinished ? encoder.tokensSubsampled - 1 : -1
        var infos: [TokenInfo] = []
        infos.reserveCapacity(out.count)
        for t in out.firstToken..<(out.firstToken + out.count) {
            infos.append(timeline.info(localToken: t, final: t == last))
        }
        sink.deliver(EncodedBlock(tokens: out, infos: infos))
        tokensProducedSnapshot.withLock { $0 = tokensProduced }
    }

    /// After `finish`, once every token is out: tells the sink the stream ended (once). Returns true then.
    func reportEndIfDrained(to sink: any TokenSink) -> Bool {
        guard isFinished, !endReported, !encoder.hasReadyBlock, encoder.pendingTokenCount == 0 else { return false }
        endReported = true
        sink.ended(totalTokens: tokensProduced)
        return true
    }
}
