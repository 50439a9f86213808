import Foundation
import Gemma4Audio
import Logging
import ServiceLifecycle
import Synchronization
import WireProtocol

/// The daemon's encoding core: the model, the scheduler and its compute threads, and the named live streams.
/// Connections and capture both talk to it; it never does I/O itself.
package final class Engine: Sendable {
    package let model: Gemma4AudioModel
    /// Names the model in `welcome` and status.
    package let modelID: String
    let scheduler: Scheduler
    let historyTokens: Int
    private let live = Mutex<[LiveStream]>([])
    let startTime = ContinuousClock.now

    package init(model: Gemma4AudioModel, modelID: String, scheduler configuration: SchedulerConfiguration,
                 historyTokens: Int) {
        self.model = model
        self.modelID = modelID
        scheduler = Scheduler(model: model, configuration: configuration)
        self.historyTokens = historyTokens
    }

    package var blockTokens: Int { scheduler.configuration.blockTokens }

    /// Adds a named live stream fed by `source` (a description for status). Names are unique.
    package func addLiveStream(name: String, source: String) throws -> LiveStream {
        let hub = StreamHub(name: name, historyCapacity: historyTokens)
        let scheduled = try scheduler.addStream(name: name, kind: .live, sink: hub)
        let stream = LiveStream(name: name, source: source, hub: hub, scheduled: scheduled)
        try live.withLock { list in
            guard !list.contains(where: { $0.name == name }) else {
                scheduled.cancel()
                throw EngineError("two live streams are named '\(name)'")
            }
            list.append(stream)
        }
        return stream
    }

    package var liveStreams: [LiveStream] { live.withLock { $0 } }

    func liveStream(named name: String) -> LiveStream? { live.withLock { $0.first { $0.name == name } } }

    /// False if work has waited more than 10 s for a compute thread.
    package var isHealthy: Bool { scheduler.isHealthy() }

    /// Starts the compute threads.
    package func start() { scheduler.start() }

    /// Stops the compute threads once they are done with what they hold.
    @discardableResult
    package func stop(timeout: Duration = .seconds(1)) -> Bool { scheduler.stop(timeout: timeout) }

    /// The status object of docs/protocol.md, with the server's own fields merged in.
    func statusObject(server: [String: Any]) -> [String: Any] {
        let c = model.configuration
        let stats = scheduler.statistics
        let uptime = ContinuousClock.now - startTime
        var object = server
        object["protocol"] = Int(Handshake.currentVersion)
        object["uptimeSeconds"] = Double(uptime.components.seconds) + Double(uptime.components.attoseconds) * 1e-18
        object["model"] = ["id": modelID, "D": c.textHiddenSize, "P": c.outputProjectionSize,
                           "blockTokens": blockTokens, "layers": c.layerCount] as [String: Any]
        var streams: [[String: Any]] = liveStreams.map { $0.statusObject }
        for s in scheduler.activeStreams where s.kind == .pushed {
            streams.append(["name": s.name, "kind": "pushed", "state": "running",
                            "samples": s.samplesSubmitted, "inputRate": s.inputRate,
                            "tokens": s.tokensProduced])
        }
        object["streams"] = streams
        object["voiceActivity"] = scheduler.configuration.voiceActivity.map {
            ["on": true, "threshold": $0.events.threshold, "minSilenceMs": $0.events.minSilenceMs,
             "speechPadMs": $0.events.speechPadMs] as [String: Any]
        } ?? ["on": false]
        object["compute"] = ["threads": scheduler.configuration.computeThreads, "passes": stats.passes,
                             "tokensEncoded": stats.tokensEncoded,
                             "busySeconds": Double(stats.busyNanoseconds) * 1e-9] as [String: Any]
        return object
    }
}

/// A named live stream: what capture feeds and subscribers read.
package final class LiveStream: Sendable {
    package enum State: String, Sendable {
        case starting, running, deviceLost = "device-lost", ended, failed
    }

    package let name: String
    /// The source spec, for status.
    package let source: String
    let hub: StreamHub
    let scheduled: ScheduledStream
    private let state = Mutex(State.starting)

    init(name: String, source: String, hub: StreamHub, scheduled: ScheduledStream) {
        self.name = name
        self.source = source
        self.hub = hub
        self.scheduled = scheduled
    }

    /// 16 kHz mono audio at timeline position `firstSample`; `wallNanoseconds` is when its last sample arrived.
    /// Never waits.
    package func submit(_ samples: [Float], firstSample: Int64, wallNanoseconds: Int64) {
        scheduled.submitLive(samples, firstSample: firstSample, wall: wallNanoseconds)
    }

    /// Passes an event to subscribers, in order with the audio around it.
    package func report(_ kind: EventKind, at: Int64, count: UInt64 = 0, message: String = "") {
        switch kind {
        case .deviceLost: setState(.deviceLost)
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

    package func setState(_ new: State) { state.withLock { $0 = new } }
    package var currentState: State { hub.hasEnded ? .ended : state.withLock { $0 } }

    var statusObject: [String: Any] {
        ["name": name, "kind": "live", "source": source, "state": currentState.rawValue,
         "samples": scheduled.samplesSubmitted, "tokens": tokensProduced, "subscribers": subscriberCount,
         "overrunSamples": scheduled.overrunSamples]
    }
}

/// A setup mistake (duplicate names and the like).
package struct EngineError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// Runs the engine's compute threads for the life of a `ServiceGroup`: started when the group starts, stopped after
/// every service started after it has shut down (services stop in reverse order).
package struct ComputeService: Service {
    let engine: Engine
    let logger: Logger

    package init(engine: Engine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    package func run() async throws {
        engine.start()
        logger.info("compute threads started", metadata: [
            "threads": "\(engine.scheduler.configuration.computeThreads)",
            "blockTokens": "\(engine.blockTokens)"])
        try? await gracefulShutdown()
        if !engine.stop() { logger.warning("compute threads did not stop in time") }
    }
}
