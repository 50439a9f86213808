import CoreMetrics
import EarshotTypes
import Foundation
import Gemma4Audio
import Kernels
import Synchronization
import VoiceActivity

/// Counters for status.
package struct SchedulerStatistics: Sendable, Equatable {
    package var passes = 0
    package var tokensEncoded = 0
    package var busyNanoseconds: UInt64 = 0
    /// Compute and audio time over the recent past, each decayed with a 10 s time constant: their ratio is the
    /// current real-time factor.
    package var recentBusySeconds = 0.0
    package var recentAudioSeconds = 0.0
    /// When the decayed sums were last updated (monotonic ns).
    var decayedAt: UInt64?

    /// Compute seconds per second of audio over the recent past: what a second of audio costs (one stream keeps up
    /// below 1; `threads / realTimeFactor` streams fit). 0 before any audio.
    package var realTimeFactor: Double { recentAudioSeconds > 0 ? recentBusySeconds / recentAudioSeconds : 0 }

    /// The fraction of the compute threads' time spent working over the recent past (same decay), at `now`, for a
    /// scheduler started at `start` with `threads` threads: near 1, work waits and the streams fall behind.
    package func utilization(now: UInt64, start: UInt64, threads: Int) -> Double {
        guard now > start else { return 0 }
        let tau = Self.timeConstantSeconds
        let busy = recentBusySeconds * exp(-Double(now - (decayedAt ?? now)) * 1e-9 / tau)
        let wall = tau * (1 - exp(-Double(now - start) * 1e-9 / tau))
        return min(1, busy / (wall * Double(max(1, threads))))
    }

    /// `tokens` encoded in `passes`, covering `audioSamples` 16 kHz samples, took `busy` ns up to `now`.
    mutating func record(busyNanoseconds busy: UInt64, tokens: Int, audioSamples: Int, passes: Int, at now: UInt64) {
        self.passes += passes
        tokensEncoded += tokens
        busyNanoseconds += busy
        if let then = decayedAt, now > then {
            let decay = exp(-Double(now - then) * 1e-9 / Self.timeConstantSeconds)
            recentBusySeconds *= decay
            recentAudioSeconds *= decay
        }
        decayedAt = now
        recentBusySeconds += Double(busy) * 1e-9
        recentAudioSeconds += Double(audioSamples) / Double(TokenTimeline.sampleRate)
    }

    static let timeConstantSeconds = 10.0
}

/// The engine's histograms, through swift-metrics (no-ops unless the daemon serves metrics). Everything else the
/// metrics show is read from the typed status.
package struct EngineMetrics: Sendable {
    /// Wall time of one batched encoder pass.
    let passDuration: CoreMetrics.Timer
    /// From the end of a token's audio to its send.
    let tokenLatency: CoreMetrics.Timer

    package init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        passDuration = CoreMetrics.Timer(label: "earshot_encoder_pass_duration_seconds", dimensions: [],
                                         factory: factory)
        tokenLatency = CoreMetrics.Timer(label: "earshot_token_latency_seconds", dimensions: [], factory: factory)
    }
}

/// What one compute thread owns: its encoder's work space and voice-activity scratch, and the lists a turn fills and
/// empties (kept, with their capacity, so a turn allocates nothing for its bookkeeping).
package final class ComputeContext {
    let workspace: any PassWorkspace
    let vadScratch = SileroVADScratch()

    /// One stream this turn holds: its inbox items (a range of `items`), whether it ended, and its token count when
    /// the turn let it go.
    struct Claim {
        let stream: ScheduledStream
        let items: Range<Int>
        var finished = false
        var tokensProduced: UInt64 = 0
    }

    var claims: [Claim] = []                 // (≤ maxBatchStreams,)
    var items: [ScheduledStream.InboxItem] = []   // (every claimed stream's inbox items,) in claim order
    var ready: [ScheduledStream] = []        // (≤ maxBatchStreams,) claimed streams with a ready block
    var encoders: [any StreamEncoder] = []   // (≤ maxBatchStreams,) their encoders, one pass's input

    /// Empties the lists (letting go of the streams and their audio), keeping their capacity.
    func endTurn() {
        claims.removeAll(keepingCapacity: true)
        items.removeAll(keepingCapacity: true)
        ready.removeAll(keepingCapacity: true)
        encoders.removeAll(keepingCapacity: true)
    }

    package init(for scheduler: Scheduler) {
        let c = scheduler.configuration
        workspace = scheduler.model.makeWorkspace(blockTokens: scheduler.blockTokens, streams: c.maxBatchStreams,
                                                  threads: c.productThreads)
    }
}

/// Runs every stream's encoder on dedicated compute threads (never the cooperative pool).
///
/// Producers (capture, transports) append audio to a stream's inbox and return at once. A compute thread wakes and
/// takes a **turn**: it claims up to `maxBatchStreams` unclaimed streams with work (round robin), feeds each its
/// audio (log-mel and SSCP run inside `accept`), then runs batched passes: one `encodePass` takes the next ready
/// block of each claimed stream, all stacked into the same GEMMs, until no block is ready. Results go to each
/// stream's ``TokenSink``. A stream is owned by one thread at a time (its ``StreamEncoder`` is not thread-safe); with
/// several threads, the streams one turn leaves (past `maxBatchStreams`, or with work that arrived during a pass)
/// are taken by the next free thread. The voice-activity detector runs in `consume`, on
/// the same samples as the encoder, with one `SileroVADScratch` per compute thread.
///
/// Tests take turns themselves with ``runUntilIdle(_:)`` on their own thread and a ``VirtualClock``: no threads, no
/// sleeps, the same code path.
///
/// Queue policies, by name:
/// - **live backlog, oldest dropped** (``ScheduledStream/BacklogPolicy``): a live stream whose unencoded audio
///   exceeds `liveBacklogSamples` (the machine cannot keep up) loses its oldest audio, reported as `overrun`;
///   capture never waits.
/// - **push budget in samples, backpressure**: pushed audio enters in pieces of `pushPieceSamples` (16 kHz samples'
///   worth, after resampling); each waits (``ScheduledStream/submitPushed(_:)``) while the stream's audio not yet
///   turned into tokens plus its unsent tokens reach `pushBudgetSamples`; nothing is dropped.
package final class Scheduler: @unchecked Sendable {
    package let model: any ServedModel
    /// The model's facts, read once.
    package let facts: ServedModelFacts
    package let configuration: SchedulerConfiguration
    /// Tokens per pass per stream (``ServedModel/passTokens(configured:)``).
    package let blockTokens: Int
    package let clock: any SchedulerClock
    let metrics: EngineMetrics

    /// Guards `streams`, `stopping`, each stream's `claimed` and `done`, and wakes compute threads.
    private let condition = NSCondition()
    private var streams: [ScheduledStream] = []
    private var stopping = false
    private var nextStreamID = 1
    /// Where the next turn's claim scan starts in `streams`.
    private var nextClaim = 0
    private var threads: [Thread] = []
    private var exited = 0
    private let stats = Mutex(SchedulerStatistics())
    /// The most 16 kHz samples one pushed stream has held at once (``ScheduledStream/submitPushed(_:)``).
    private let pushedPeak = Atomic<Int>(0)
    /// When the scheduler was made (monotonic ns), for utilization.
    package let startedAt: UInt64

    package init(model: any ServedModel, configuration: SchedulerConfiguration,
                 clock: any SchedulerClock = SystemClock(), metrics: EngineMetrics = EngineMetrics()) {
        precondition(Gemma4AudioConfiguration.blockTokensRange.contains(configuration.blockTokens),
                     "blockTokens outside Gemma4AudioConfiguration.blockTokensRange")
        precondition(configuration.computeThreads >= 1, "at least one compute thread")
        self.model = model
        facts = model.facts
        self.configuration = configuration
        blockTokens = model.passTokens(configured: configuration.blockTokens)
        self.clock = clock
        self.metrics = metrics
        startedAt = clock.monotonicNanoseconds()
    }

    // MARK: Streams

    /// Registers a stream. `inputRate` is the rate its audio arrives at (16 kHz for live streams, which the capture
    /// layer resamples; anything for pushed audio, resampled here with libsamplerate's best sinc).
    package func addStream(name: String, kind: ScheduledStream.Kind, inputRate: Int = 16_000, sink: any TokenSink)
        throws -> ScheduledStream {
        condition.lock()
        let id = nextStreamID
        nextStreamID += 1
        condition.unlock()
        let stream = try ScheduledStream(id: id, name: name, kind: kind, inputRate: inputRate, sink: sink,
                                         scheduler: self)
        condition.lock()
        streams.append(stream)
        condition.unlock()
        return stream
    }

    /// Streams currently scheduled (for status).
    package var activeStreams: [ScheduledStream] {
        condition.lock()
        defer { condition.unlock() }
        return streams
    }

    package var statistics: SchedulerStatistics { stats.withLock { $0 } }

    /// The most 16 kHz samples' worth of audio and unsent tokens any pushed stream has held at once, over the
    /// scheduler's life: the push budget plus one piece at most (more only if the encoder needs more for a block).
    package var peakPushedSamples: Int { pushedPeak.load(ordering: .relaxed) }

    func notePushedHeld(_ samples: Int) {
        var seen = pushedPeak.load(ordering: .relaxed)
        while samples > seen {
            let (exchanged, now) = pushedPeak.compareExchange(expected: seen, desired: samples, ordering: .relaxed)
            if exchanged { break }
            seen = now
        }
    }

    /// How long a stream's work may wait for a compute thread before the scheduler counts as unhealthy (the systemd
    /// watchdog, gRPC health and `/readyz` go by it).
    package static let healthLimit: Duration = .seconds(10)

    /// False if some stream's work has waited longer than `limit` for a compute thread (stuck or hopelessly slow).
    package func isHealthy(limit: Duration = Scheduler.healthLimit) -> Bool {
        let now = clock.monotonicNanoseconds()
        let limitNanoseconds = UInt64(limit.components.seconds) * 1_000_000_000
        return activeStreams.allSatisfy { $0.waitingNanoseconds(now: now) <= limitNanoseconds }
    }

    /// Called by a stream when it has new work.
    func wake() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    // MARK: Threads

    /// Starts the compute threads.
    package func start() {
        condition.lock()
        defer { condition.unlock() }
        guard threads.isEmpty, !stopping else { return }
        for index in 0..<configuration.computeThreads {
            let thread = Thread { [self] in
                // oneDNN's OpenMP team (bf16) stays at one thread per compute thread: its threads spin-wait, and on
                // a shared machine they would fight the compute threads for the cores.
                OneDNNEngine.setThreadCount(1)
                let context = ComputeContext(for: self)
                while runTurn(context, waiting: true) {}
                condition.lock()
                exited += 1
                condition.broadcast()
                condition.unlock()
            }
            thread.name = "earshot-compute-\(index)"
            thread.stackSize = 4 << 20
            threads.append(thread)
        }
        for thread in threads { thread.start() }
    }

    /// Lets the threads finish the work they hold and stop; waits for them (at most `timeout`).
    /// Returns false on timeout.
    @discardableResult
    package func stop(timeout: Duration = .seconds(2)) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds)
                            + Double(timeout.components.attoseconds) * 1e-18)
        while exited < threads.count {
            if !condition.wait(until: deadline) { return false }
        }
        return true
    }

    /// Takes turns on the calling thread until no stream has work: what a compute thread does, run synchronously
    /// (tests, and tools that encode without threads). Returns the turns taken.
    @discardableResult
    package func runUntilIdle(_ context: ComputeContext) -> Int {
        var turns = 0
        while runTurn(context, waiting: false) { turns += 1 }
        return turns
    }

    /// One turn: claims every unclaimed stream with work, encodes until none has a ready block, releases them.
    /// With `waiting`, blocks until there is work and returns false only once the scheduler stops; without, returns
    /// false at once when there is no work.
    private func runTurn(_ context: ComputeContext, waiting: Bool) -> Bool {
        defer { context.endTurn() }
        condition.lock()
        while true {
            streams.removeAll { $0.done && !$0.claimed }
            // At most one pass's worth of streams per turn, so other compute threads find the rest; the scan starts
            // where the last turn's stopped, so no stream waits behind the same others turn after turn.
            let count = streams.count
            var scanned = 0
            while scanned < count && context.claims.count < configuration.maxBatchStreams {
                let stream = streams[(nextClaim + scanned) % count]
                scanned += 1
                guard !stream.claimed else { continue }
                if stream.isCancelled {
                    stream.done = true
                    continue
                }
                let first = context.items.count
                if stream.takeInbox(into: &context.items) > 0 {
                    stream.claimed = true
                    context.claims.append(ComputeContext.Claim(stream: stream, items: first..<context.items.count))
                }
            }
            if count > 0 { nextClaim = (nextClaim + scanned) % count }
            // A full batch may have left work behind: another thread may take it now.
            if context.claims.count == configuration.maxBatchStreams { condition.signal() }
            if !context.claims.isEmpty || stopping || !waiting { break }
            condition.wait()
        }
        condition.unlock()
        if context.claims.isEmpty { return false }

        let began = clock.monotonicNanoseconds()
        var passes = 0, tokens = 0
        for claim in context.claims {
            claim.stream.worker.consume(context.items[claim.items], workspace: context.workspace,
                                        vadScratch: context.vadScratch, sink: claim.stream.sink)
            if claim.stream.worker.encoder.hasReadyBlock { context.ready.append(claim.stream) }
        }
        while !context.ready.isEmpty {
            let passBegan = clock.monotonicNanoseconds()
            for stream in context.ready { context.encoders.append(stream.worker.encoder) }
            let encoded = model.encodePass(context.encoders, workspace: context.workspace)
            context.encoders.removeAll(keepingCapacity: true)
            precondition(encoded > 0, "a ready block must encode")
            metrics.passDuration.recordNanoseconds(Int64(clock.monotonicNanoseconds() - passBegan))
            passes += 1
            tokens += encoded
            for stream in context.ready { stream.worker.emitOutput(to: stream.sink) }
            context.ready.removeAll { !$0.worker.encoder.hasReadyBlock }
        }
        for i in context.claims.indices {
            let stream = context.claims[i].stream
            context.claims[i].finished = stream.worker.reportEndIfDrained(to: stream.sink)
            // Read while the claim is held: the worker belongs to whichever thread claims the stream next.
            context.claims[i].tokensProduced = stream.worker.tokensProduced
        }
        let now = clock.monotonicNanoseconds()
        let audioSamples = tokens * facts.samplesPerToken
        stats.withLock {
            $0.record(busyNanoseconds: now - began, tokens: tokens, audioSamples: audioSamples, passes: passes, at: now)
        }

        condition.lock()
        for claim in context.claims {
            claim.stream.claimed = false
            if claim.finished { claim.stream.done = true }
        }
        condition.unlock()
        for claim in context.claims { claim.stream.turnEnded(tokensProduced: claim.tokensProduced) }
        // Work that arrived while these streams were claimed is picked up on the next turn.
        return true
    }
}
