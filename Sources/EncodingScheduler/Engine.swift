import EarshotTypes
import QueuePolicies
import Synchronization

/// The daemon's encoding core, behind every transport: the model, the scheduler and its compute threads, the named
/// live streams, the clients the transports serve, and the typed status. Transports (the Unix socket, gRPC) talk only
/// to it; it never does I/O.
package final class Engine: Sendable {
    package let model: any ServedModel
    /// Names the model in `welcome` and status.
    package let modelID: String
    package let scheduler: Scheduler
    package let historyTokens: Int
    /// Every transport's clients, for admission and status.
    package let clients: ClientRegistry
    /// Recent token latencies, for status.
    package let latency = LatencyWindow()
    private let live = Mutex<[LiveStream]>([])
    /// What ended streams contributed to the life-time totals.
    private let retired = Mutex(RetiredTotals())
    private let startedAt: UInt64

    private struct RetiredTotals {
        var overrunSamples: UInt64 = 0
        var speechSeconds = 0.0
    }

    package init(model: any ServedModel, modelID: String, scheduler configuration: SchedulerConfiguration,
                 historyTokens: Int, maxClients: Int = 64, clock: any SchedulerClock = SystemClock(),
                 metrics: EngineMetrics = EngineMetrics()) {
        self.model = model
        self.modelID = modelID
        scheduler = Scheduler(model: model, configuration: configuration, clock: clock, metrics: metrics)
        self.historyTokens = historyTokens
        clients = ClientRegistry(maxClients: maxClients)
        startedAt = clock.monotonicNanoseconds()
    }

    /// Tokens per pass per stream: the encoder's own latency (Gemma 4: the configured block; Echo: a window).
    package var blockTokens: Int { scheduler.blockTokens }
    package var facts: ServedModelFacts { scheduler.facts }
    package var clock: any SchedulerClock { scheduler.clock }
    package var voiceActivityIsOn: Bool { scheduler.configuration.voiceActivity != nil }

    // MARK: Live streams

    /// Adds a named live stream fed by `source` (a description for status). Names are unique.
    package func addLiveStream(name: String, source: String) throws -> LiveStream {
        let hub = StreamHub(name: name, historyCapacity: historyTokens)
        let scheduled = try scheduler.addStream(name: name, kind: .live, sink: hub)
        let stream = LiveStream(name: name, source: source, hub: hub, scheduled: scheduled)
        try live.withLock { list in
            guard !list.contains(where: { $0.name == name }) else {
                scheduled.cancel()
                throw EngineError.duplicateStreamName(name)
            }
            list.append(stream)
        }
        return stream
    }

    package var liveStreams: [LiveStream] { live.withLock { $0 } }

    package func liveStream(named name: String) -> LiveStream? { live.withLock { $0.first { $0.name == name } } }

    // MARK: Pushed streams

    /// Starts a stream of audio pushed by one client at `inputRate`; its tokens go to `sink`, which must give
    /// back push credit (``ScheduledStream/tokenSent()``) as the transport writes them.
    package func startPush(label: String, inputRate: Int, sink: any TokenSink) throws -> ScheduledStream {
        let stream = try scheduler.addStream(name: label, kind: .pushed, inputRate: inputRate, sink: sink)
        clients.pushStarted()
        return stream
    }

    /// A pushed stream is gone: keep what it counted for the totals.
    package func retire(_ stream: ScheduledStream) {
        let overrun = UInt64(stream.overrunSamples), speech = stream.speechSeconds
        retired.withLock {
            $0.overrunSamples += overrun
            $0.speechSeconds += speech
        }
    }

    // MARK: Compute

    /// False if work has waited more than ``Scheduler/healthLimit`` for a compute thread.
    package var isHealthy: Bool { scheduler.isHealthy() }

    /// Starts the compute threads.
    package func start() { scheduler.start() }

    /// Stops the compute threads once they are done with what they hold.
    @discardableResult
    package func stop(timeout: Duration = .seconds(1)) -> Bool { scheduler.stop(timeout: timeout) }

    // MARK: Status

    /// A transport sent `token` now: its latency (from the end of its audio, the earliest it could have been sent)
    /// goes to status and the histogram. Replayed history is not sent late, only re-sent, so transports report live
    /// tokens only.
    package func tokenSent(_ token: TokenInfo) {
        let audioEnd = token.captureTimeNanoseconds
            + Int64(facts.samplesPerToken) * 1_000_000_000 / TokenTimeline.sampleRate
        let nanoseconds = max(0, clock.wallNanoseconds() - audioEnd)
        latency.record(milliseconds: Double(nanoseconds) * 1e-6)
        scheduler.metrics.tokenLatency.recordNanoseconds(nanoseconds)
    }

    /// What a transport adds to the status: its name, the build's version and revision, and its address.
    package struct ServerFacts: Sendable {
        package var serverName: String
        package var version: String?
        package var revision: String?
        package var socketPath: String
        package init(serverName: String, version: String? = nil, revision: String? = nil, socketPath: String) {
            self.serverName = serverName
            self.version = version
            self.revision = revision
            self.socketPath = socketPath
        }
    }

    /// The whole typed status (docs/protocol.md, "Status").
    package func status(_ facts: ServerFacts, protocolVersion: Int) -> DaemonStatus {
        let c = self.facts
        let stats = scheduler.statistics
        let uptime = Double(clock.monotonicNanoseconds() &- startedAt) * 1e-9
        let liveStreams = self.liveStreams
        var streams = liveStreams.map(\.status)
        for s in scheduler.activeStreams where s.kind == .pushed && !s.isGone {
            streams.append(DaemonStatus.Stream(
                name: s.name, kind: .pushed, source: nil, state: .running, samples: s.samplesSubmitted,
                inputRate: s.inputRate, tokens: s.tokensProduced, subscribers: nil, overrunSamples: s.overrunSamples,
                captureLostSamples: 0, deviceLosses: 0, speechSeconds: s.speechSeconds,
                backlogSeconds: Double(s.backlogSamples) / Double(s.inputRate)))
        }
        let vad = scheduler.configuration.voiceActivity.map {
            DaemonStatus.VoiceActivity(on: true, threshold: $0.events.threshold, minSilenceMs: $0.events.minSilenceMs,
                                       speechPadMs: $0.events.speechPadMs)
        } ?? DaemonStatus.VoiceActivity(on: false)
        let (connections, clientTotals) = clients.snapshot()
        let retired = self.retired.withLock { $0 }
        var totals = clientTotals
        totals.overrunSamples = retired.overrunSamples + streams.reduce(0) { $0 + UInt64($1.overrunSamples) }
        totals.speechSeconds = retired.speechSeconds + streams.reduce(0) { $0 + $1.speechSeconds }
        totals.deviceLosses = UInt64(liveStreams.reduce(0) { $0 + $1.deviceLosses })
        totals.captureLostSamples = UInt64(liveStreams.reduce(0) { $0 + $1.captureLostSamples })
        totals.pushedPeakSamples = UInt64(scheduler.peakPushedSamples)
        return DaemonStatus(
            server: facts.serverName, version: facts.version, revision: facts.revision, protocol: protocolVersion,
            uptimeSeconds: uptime,
            model: .init(id: modelID, family: c.family, D: c.embeddingWidth, P: c.encoderWidth,
                         blockTokens: blockTokens, layers: c.layerCount, samplesPerToken: c.samplesPerToken),
            clients: connections.count, maxClients: clients.maxClients, socket: facts.socketPath, streams: streams,
            connections: connections,
            compute: .init(threads: scheduler.configuration.computeThreads, passes: stats.passes,
                           tokensEncoded: stats.tokensEncoded, busySeconds: Double(stats.busyNanoseconds) * 1e-9,
                           realTimeFactor: stats.realTimeFactor,
                           utilization: stats.utilization(now: clock.monotonicNanoseconds(),
                                                          start: scheduler.startedAt,
                                                          threads: scheduler.configuration.computeThreads)),
            voiceActivity: vad, latency: latency.summary(), totals: totals)
    }
}

/// A named live stream: what capture feeds and subscribers read.
package final class LiveStream: Sendable {
    package typealias State = DaemonStatus.StreamState

    package let name: String
    /// The source spec, for status.
    package let source: String
    package let hub: StreamHub
    package let scheduled: ScheduledStream
    private let state = Mutex((state: State.starting, deviceLosses: 0, captureLostSamples: Int64(0)))

    init(name: String, source: String, hub: StreamHub, scheduled: ScheduledStream) {
        self.name = name
        self.source = source
        self.hub = hub
        self.scheduled = scheduled
    }

    /// 16 kHz mono audio at timeline position `firstSample`; `wallNanoseconds` is when its last sample arrived.
    /// Under ``DeliveryPolicy/realTime`` it never waits: past the live backlog the oldest audio is dropped (reported
    /// to subscribers as an `overrun`) and the samples dropped now are returned. Under
    /// ``DeliveryPolicy/backpressure`` it waits for room in the backlog and drops nothing (returns 0).
    package func submit(_ samples: [Float], firstSample: Int64, wallNanoseconds: Int64,
                        delivery: DeliveryPolicy) async -> Int {
        switch delivery {
        case .realTime:
            return scheduled.submitLive(samples, firstSample: firstSample, wall: wallNanoseconds)
        case .backpressure:
            await scheduled.submitLiveWaiting(samples, firstSample: firstSample, wall: wallNanoseconds)
            return 0
        }
    }

    /// Passes an event to subscribers, in order with the audio around it.
    package func report(_ kind: EventKind, at: Int64, count: UInt64 = 0, message: String = "") {
        switch kind {
        case .deviceLost: state.withLock { $0.state = .deviceLost; $0.deviceLosses += 1 }
        case .overrun, .discontinuity: state.withLock { $0.captureLostSamples += Int64(count) }
        case .deviceRestored: setState(.running)
        default: break
        }
        scheduled.submitEvent(kind, at: at, count: count, message: message)
    }

    /// The source ended (or capture stops): the tail is encoded, subscribers get the last tokens and `ended`.
    package func finish() {
        scheduled.finish()
    }

    package var hasEnded: Bool { hub.hasEnded }
    package var subscriberCount: Int { hub.subscriberCount }
    package var tokensProduced: UInt64 { hub.tokensProduced }
    package var deviceLosses: Int { state.withLock { $0.deviceLosses } }
    /// Samples capture lost before the engine saw them (its queue overflowed, or the device dropped audio).
    package var captureLostSamples: Int64 { state.withLock { $0.captureLostSamples } }

    package func setState(_ new: State) { state.withLock { $0.state = new } }
    package var currentState: State { hub.hasEnded ? .ended : state.withLock { $0.state } }

    var status: DaemonStatus.Stream {
        DaemonStatus.Stream(name: name, kind: .live, source: source, state: currentState,
                            samples: scheduled.samplesSubmitted, inputRate: scheduled.inputRate,
                            tokens: tokensProduced, subscribers: subscriberCount,
                            overrunSamples: scheduled.overrunSamples, captureLostSamples: captureLostSamples,
                            deviceLosses: deviceLosses,
                            speechSeconds: scheduled.speechSeconds,
                            backlogSeconds: Double(scheduled.backlogSamples) / Double(scheduled.inputRate))
    }
}

/// A setup mistake.
package enum EngineError: Error, CustomStringConvertible, Equatable {
    case duplicateStreamName(String)

    package var description: String {
        switch self {
        case .duplicateStreamName(let name): "two live streams are named '\(name)'"
        }
    }
}
