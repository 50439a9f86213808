import Foundation
import Gemma4Audio
import Kernels
import Synchronization
import VoiceActivity
import WireProtocol

/// Voice activity on every stream: the weights every stream shares and `VADIterator`'s settings.
public struct VoiceActivityConfiguration: Sendable {
    public var weights: SileroVADWeights
    public var events: SpeechEventConfiguration

    public init(weights: SileroVADWeights, events: SpeechEventConfiguration = SpeechEventConfiguration()) {
        self.weights = weights
        self.events = events
    }
}

/// How the scheduler batches and buffers.
public struct SchedulerConfiguration: Sendable {
    /// Tokens per encoder pass per stream (1…12): a token waits for its block. 12 by default.
    public var blockTokens = 12
    /// Dedicated compute threads (each with its own scratch).
    public var computeThreads = 1
    /// Threads each compute thread's matrix products split their columns over (itself and `productThreads` − 1
    /// workers). Results do not depend on it in f32; more threads lower one pass's latency.
    public var productThreads = 1
    /// Most streams stacked into one pass; more wait for the next pass.
    public var maxBatchStreams = 8
    /// Live streams: unencoded audio held before the oldest is discarded and reported as an `overrun`.
    public var liveBacklogSamples = 16_000 * 4
    /// Pushed streams: audio not yet encoded plus tokens not yet sent (in 16 kHz samples) before the pusher waits.
    public var pushBudgetSamples = 16_000 * 2
    /// Gaps in live audio up to this many samples are filled with zeros; longer ones start a new segment.
    public var maxGapFillSamples = 16_000
    /// Silero VAD on every stream's 16 kHz samples (speech events, the `speech` flag); nil runs none.
    public var voiceActivity: VoiceActivityConfiguration?

    public init() {}
}

/// Counters for `status`.
struct SchedulerStatistics: Sendable {
    var passes = 0
    var tokensEncoded = 0
    var busyNanoseconds: UInt64 = 0
}

/// Runs every stream's encoder on dedicated compute threads (never the cooperative pool).
///
/// Producers (capture, connections) append audio to a stream's inbox and return at once. A compute thread wakes,
/// claims every unclaimed stream with work, feeds each its audio (log-mel and SSCP run inside `accept`), then runs
/// batched passes: one `encodePass` takes the next ready block of each claimed stream, all stacked into the same
/// GEMMs, until no block is ready. Results go to each stream's ``TokenSink``. A stream is owned by one thread at a
/// time (its `EncoderStream` is not thread-safe); with several threads, streams that get work while another pass runs
/// are taken by the next free thread. The voice-activity detector runs in `consume`, on the same samples as the
/// encoder, with one `SileroVADScratch` per compute thread.
///
/// Queue policies, by name:
/// - **live backlog, oldest dropped**: a live stream whose unencoded audio exceeds `liveBacklogSamples` (the machine
///   cannot keep up) loses its oldest audio, reported as `overrun`; capture never waits.
/// - **push budget, backpressure**: a pushed stream's producer waits (``ScheduledStream/submitPushed(_:)``) while its
///   unencoded audio plus unsent tokens exceed `pushBudgetSamples`; nothing is dropped.
final class Scheduler: @unchecked Sendable {
    let model: Gemma4AudioModel
    let configuration: SchedulerConfiguration

    /// Guards `streams`, `stopping`, each stream's `claimed` and `done`, and wakes compute threads.
    private let condition = NSCondition()
    private var streams: [ScheduledStream] = []
    private var stopping = false
    private var nextStreamID = 1
    private var threads: [Thread] = []
    private var exited = 0
    private let stats = Mutex(SchedulerStatistics())

    init(model: Gemma4AudioModel, configuration: SchedulerConfiguration) {
        precondition((1...12).contains(configuration.blockTokens), "blockTokens must be 1…12")
        precondition(configuration.computeThreads >= 1, "at least one compute thread")
        self.model = model
        self.configuration = configuration
    }

    // MARK: Streams

    /// Registers a stream. `inputRate` is the rate its audio arrives at (16 kHz for live streams, which the capture
    /// layer resamples; anything for pushed audio, resampled here with libsamplerate's best sinc).
    func addStream(name: String, kind: ScheduledStream.Kind, inputRate: Int = 16_000, sink: any TokenSink) throws
        -> ScheduledStream {
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
    var activeStreams: [ScheduledStream] {
        condition.lock()
        defer { condition.unlock() }
        return streams
    }

    var statistics: SchedulerStatistics { stats.withLock { $0 } }

    /// False if some stream's work has waited longer than `limit` for a compute thread (stuck or hopelessly slow).
    func isHealthy(limit: Duration = .seconds(10)) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
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
    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard threads.isEmpty, !stopping else { return }
        for index in 0..<configuration.computeThreads {
            let thread = Thread { [self] in
                computeLoop()
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
    func stop(timeout: Duration = .seconds(2)) -> Bool {
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

    private func computeLoop() {
        // oneDNN's OpenMP team (bf16) stays at one thread per compute thread: its threads spin-wait, and on a
        // shared machine they would fight the compute threads for the cores.
        OneDNNEngine.setThreadCount(1)
        let scratch = EncoderScratch(model: model, capacity: configuration.blockTokens * configuration.maxBatchStreams,
                                     threads: model.precision == .f32 ? configuration.productThreads : 1)
        let vadScratch = SileroVADScratch()
        while true {
            var batch: [(ScheduledStream, [ScheduledStream.InboxItem])] = []
            condition.lock()
            while true {
                streams.removeAll { $0.done && !$0.claimed }
                for stream in streams where !stream.claimed {
                    if stream.isCancelled {
                        stream.done = true
                        continue
                    }
                    let items = stream.takeInbox()
                    if !items.isEmpty {
                        stream.claimed = true
                        batch.append((stream, items))
                    }
                }
                if !batch.isEmpty || stopping { break }
                condition.wait()
            }
            condition.unlock()
            if batch.isEmpty { return }   // stopping, nothing left

            let began = DispatchTime.now().uptimeNanoseconds
            var passes = 0, tokens = 0
            for (stream, items) in batch {
                stream.worker.consume(items, scratch: scratch, vadScratch: vadScratch, sink: stream.sink)
            }
            var ready = batch.map(\.0).filter { $0.worker.encoder.hasReadyBlock }
            while !ready.isEmpty {
                let encoded = model.encodePass(ready.map(\.worker.encoder), scratch: scratch)
                precondition(encoded > 0, "a ready block must encode")
                passes += 1
                tokens += encoded
                for stream in ready { stream.worker.emitOutput(to: stream.sink) }
                ready.removeAll { !$0.worker.encoder.hasReadyBlock }
            }
            var finished: [ScheduledStream] = []
            for (stream, _) in batch where stream.worker.reportEndIfDrained(to: stream.sink) { finished.append(stream) }
            let elapsed = DispatchTime.now().uptimeNanoseconds - began
            stats.withLock {
                $0.passes += passes
                $0.tokensEncoded += tokens
                $0.busyNanoseconds += elapsed
            }

            condition.lock()
            for (stream, _) in batch { stream.claimed = false }
            for stream in finished { stream.done = true }
            condition.unlock()
            // Work that arrived while these streams were claimed is picked up on the next turn of the loop.
        }
    }
}
