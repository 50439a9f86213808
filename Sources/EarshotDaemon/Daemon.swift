import AudioCapture
import BuildInfo
import ClientSessions
import EarshotGRPC
import EarshotServer
import EarshotTypes
import EncodingScheduler
import Foundation
import EchoAudio
import Gemma4Audio
import LiveView
import Logging
import ServiceLifecycle
import UnixSignals
import VoiceActivity
import WireProtocol

/// `earshotd` as a library call: validates the configuration and checks everything it can without the model (each
/// file source opens and decodes, the socket path and the TCP ports are free, the VAD weights load), loads the
/// model, opens the sources, then runs the services (compute → metrics → listeners: the socket server, gRPC and the
/// live view, together → one per source → watchdog → SIGHUP reload → the stop notice for `/readyz`) in a
/// `ServiceGroup` until a stop signal, which drains and stops them in reverse order.
///
/// Signals: SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 drain and exit 0; SIGHUP reloads (``ReloadService``); SIGQUIT keeps
/// its default (exit with a core dump, for debugging). From the start of `run`, before the model is loaded, SIGHUP,
/// SIGUSR1 and SIGUSR2 are ignored, so none of them can kill the daemon before its handlers are in place.
package enum Daemon {
    /// Signals that stop the daemon as SIGTERM does: drain clients, remove the socket file, exit 0.
    static let stopSignals: [UnixSignal] = [.sigterm, .sigint, .sigusr1, .sigusr2]

    /// How long a stop lets clients drain, on the socket and over gRPC alike (the listeners drain at once, see
    /// `Listeners`); the service group allows this plus time for the sources and the rest to stop.
    static let drainTimeout: Duration = .seconds(1)
    static let stopBudget: Duration = drainTimeout + .milliseconds(800)

    /// Runs until a stop signal. Throws a ``DaemonError`` (one line) for anything wrong at startup.
    /// `resolve` reads the configuration again (on SIGHUP); `level` is the log level `logger` reads.
    package static func run(_ configuration: DaemonConfiguration, logger: Logger, level: LiveLogLevel,
                            resolve: @escaping @Sendable () throws -> DaemonConfiguration) async throws {
        for number in [SIGHUP, SIGUSR1, SIGUSR2] { signal(number, SIG_IGN) }
        let checked = try preflight(configuration, fileLimit: FileBudget.raiseSoftLimit())
        let modelPath = checked.modelPath, captures = checked.captures
        var grpc = checked.grpc, liveView = checked.liveView
        let listenDescriptor = try SocketActivation.takeListeningDescriptor()
        var server = ServerConfiguration(socketPath: configuration.socket ?? DaemonConfiguration.defaultSocketPath())
        server.listenDescriptor = listenDescriptor
        server.drainTimeout = drainTimeout
        server.serverName = "earshotd \(BuildInfo.version)"
        server.version = BuildInfo.version
        server.revision = BuildInfo.revision
        server.socketMode = configuration.socketMode
        server.socketGroup = configuration.group
        server.maxPushedStreams = configuration.maxPushedStreams
        server.maxSubscriptions = configuration.maxSubscriptions
        server.helloTimeout = .milliseconds(Int64(configuration.helloTimeout * 1000))
        server.idleTimeout = .milliseconds(Int64(configuration.idleTimeout * 1000))
        server.maxFrameLength = configuration.maxFrameBytes
        server.sendQueueFrames = configuration.sendQueueFrames
        server.socketSendBuffer = configuration.sendBufferBytes
        server.allowedUIDs = checked.allowedUIDs
        server.allowedGIDs = checked.allowedGIDs
        if listenDescriptor == nil { try SocketAccess.checkBindable(server.socketPath) }

        // Every TCP port is free (not in `preflight`: on SIGHUP the running daemon holds them).
        var tcpAddresses: [(option: String, address: ListenAddress)] = []
        if let grpc {
            tcpAddresses.append(("--grpc-address", ListenAddress(host: grpc.host, port: grpc.port)))
            if let health = grpc.healthAddress { tcpAddresses.append(("--grpc-health-address", health)) }
        }
        if let metrics = configuration.metricsAddress { tcpAddresses.append(("--metrics-address", metrics)) }
        if let http = liveView { tcpAddresses.append(("--http-address", http.address)) }
        try ListenerCheck.checkBindable(tcpAddresses)

        // The VAD weights are small and their file may be missing: read them before the model, not after.
        let voiceActivity = try Self.voiceActivity(configuration, logger: logger)

        let loadStart = ContinuousClock.now
        let (model, source) = try Self.loadModel(path: modelPath, precision: configuration.precision, logger: logger)
        let facts = model.facts
        logger.info("model loaded", metadata: [
            "model": "\(source)", "family": "\(facts.family)",
            "D": "\(facts.embeddingWidth)", "P": "\(facts.encoderWidth)",
            "layers": "\(facts.layerCount)", "seconds": "\(ContinuousClock.now - loadStart)"])

        var scheduling = SchedulerConfiguration()
        scheduling.voiceActivity = voiceActivity
        scheduling.blockTokens = configuration.blockTokens
        scheduling.liveBacklogSamples = Int(configuration.liveBacklogSeconds * 16_000)
        scheduling.computeThreads = configuration.computeThreads
        scheduling.productThreads = configuration.productThreads
            ?? max(1, ProcessInfo.processInfo.activeProcessorCount / configuration.computeThreads)
        let metrics = configuration.metricsAddress.map { _ in StatusMetrics() }
        let engine = Engine(model: model, modelID: modelPath, scheduler: scheduling,
                            historyTokens: Int(configuration.historySeconds * 16_000) / facts.samplesPerToken,
                            maxClients: configuration.maxClients,
                            metrics: metrics.map { EngineMetrics(factory: $0.factory) } ?? EngineMetrics())

        var sourceServices: [LiveSourceService] = []
        for (entry, spec, capture) in captures {
            let stream = try engine.addLiveStream(name: entry.name, source: entry.spec)
            let session: CaptureSession
            do {
                session = try await CaptureSession.start(spec.source, configuration: capture)
            } catch {
                throw sourceError(entry, error)
            }
            let delivery = capture.delivery(for: spec.source)
            logger.info("capturing", metadata: ["stream": "\(entry.name)", "source": "\(entry.spec)",
                                                "format": "\(session.deviceFormat)", "delivery": "\(delivery)"])
            sourceServices.append(LiveSourceService(session: session, delivery: delivery, stream: stream,
                                                    clock: engine.clock, logger: logger))
        }

        if engine.blockTokens != configuration.blockTokens {
            logger.notice("block-tokens does not apply to this model", metadata: [
                "family": "\(facts.family)", "blockTokens": "\(engine.blockTokens)",
                "configured": "\(configuration.blockTokens)",
                "why": "it is not causal: each window of blockTokens tokens is encoded whole, once complete"])
        }
        // A subscriber's live queue holds two of the model's blocks at least: an Echo window (1500 tokens at the
        // seed's size) arrives at once, and a queue smaller than it would skip a reader that keeps up.
        let liveQueue = max(configuration.sendQueueFrames, 2 * engine.blockTokens)
        if liveQueue > configuration.sendQueueFrames {
            logger.info("send queues hold two blocks", metadata: [
                "sendQueueFrames": "\(liveQueue)", "configured": "\(configuration.sendQueueFrames)",
                "blockTokens": "\(engine.blockTokens)"])
        }
        server.sendQueueFrames = liveQueue
        grpc?.limits.liveQueueTokens = liveQueue
        liveView?.liveQueueTokens = liveQueue

        let notifier = SystemdNotifier()
        let readiness = DaemonReadiness { engine.isHealthy }
        let socketDescription = listenDescriptor.map { "socket-activated fd \($0)" } ?? server.socketPath
        let socketServer = SocketServer(engine: engine, configuration: server, logger: logger) {
            readiness.listening()
            notifier.notify("READY=1\nSTATUS=serving on \(socketDescription)\nMAINPID=\(getpid())")
        }
        let watchdog = WatchdogService(notifier: notifier, interval: SystemdNotifier.watchdogInterval(),
                                       logger: logger) { engine.isHealthy }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ComputeService(engine: engine, logger: logger)),
        ]
        // Before the listeners, so it stops after they have drained: during the drain /readyz answers `draining`
        // and /metrics the final counts.
        if let address = configuration.metricsAddress, let metrics {
            services.append(.init(service: MetricsServer(host: address.host, port: address.port,
                                                         limits: configuration.admissionLimits(
                                                             maxConnections: configuration.metricsMaxConnections),
                                                         metrics: metrics, logger: logger,
                                                         status: { socketServer.status() },
                                                         readiness: { readiness.current })))
        }
        var listeners: [any Service] = [socketServer]
        var healthFollower: GRPCHealthFollower?
        if let grpc {
            do {
                let service = try GRPCServerService(configuration: grpc, sessions: socketServer.sessions,
                                                    logger: logger)
                listeners.append(service)
                healthFollower = GRPCHealthFollower(health: service.health) { engine.isHealthy }
            } catch {
                throw DaemonError("--grpc-address \(grpc.host):\(grpc.port): \(error)")
            }
        }
        if let liveView {
            do {
                listeners.append(try LiveViewServer(configuration: liveView, sessions: socketServer.sessions,
                                                    spectrogram: EngineSpectrogram(engine: engine), logger: logger))
            } catch {
                throw DaemonError("\(error)")
            }
        }
        // The transports drain at once on a stop (see `Listeners`).
        services.append(.init(service: Listeners(services: listeners)))
        if let healthFollower { services.append(.init(service: healthFollower)) }
        for service in sourceServices {
            // A file that plays out, or a device that gives up, ends its stream, not the daemon (the service then
            // waits for the daemon's stop; these behaviours only back that up).
            services.append(.init(service: service, successTerminationBehavior: .ignore,
                                  failureTerminationBehavior: .ignore))
        }
        services.append(.init(service: watchdog))
        services.append(.init(service: ReloadService(resolve: resolve, running: configuration, level: level,
                                                     logger: logger)))
        // Last, so the first to hear a stop: /readyz turns to `draining` before anything else stops.
        services.append(.init(service: readiness.stopNotice))
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = stopSignals
        groupConfiguration.maximumGracefulShutdownDuration = stopBudget
        groupConfiguration.maximumCancellationDuration = .milliseconds(150)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            throw DaemonError("\(error)")
        }
        logger.info("stopped")
    }

    /// One line for a source that cannot start: its stream, and its spec unless the reason already names it (a bad
    /// spec is quoted; a file error names its path), so nothing is said twice.
    static func sourceError(_ entry: SourceEntry, _ error: any Error) -> DaemonError {
        let reason = "\(error)"
        var named = reason.contains(entry.spec)
        if case .file(let path)? = (try? SourceSpec(entry.spec))?.source, reason.contains(path) { named = true }
        return DaemonError("source '\(entry.name)'\(named ? "" : " (\(entry.spec))"): \(reason)")
    }

    /// What a start checks before it touches anything (no socket bound, no model loaded), and what it learns: the
    /// same function answers SIGHUP, so a reload reports exactly what the next start would refuse. (The TCP ports
    /// and the VAD weights are checked by the start alone: a running daemon holds the ports.)
    struct Preflight {
        let modelPath: String
        let captures: [(entry: SourceEntry, spec: SourceSpec, configuration: CaptureConfiguration)]
        let allowedUIDs: Set<UInt32>
        let allowedGIDs: Set<UInt32>
        /// gRPC's settings, its TLS files read; nil when gRPC is off.
        let grpc: GRPCServerConfiguration?
        /// The live view's settings, its TLS files read; nil when it is off.
        let liveView: LiveViewConfiguration?
    }

    /// Checks `configuration` as a start does before the model loads; `fileLimit` is RLIMIT_NOFILE's soft limit.
    /// Each file source is opened and its first period decoded, in well under a second.
    static func preflight(_ configuration: DaemonConfiguration, fileLimit: Int) throws -> Preflight {
        guard let modelPath = configuration.model else {
            throw DaemonError("no model: pass --model PATH (a Hugging Face Gemma 4 directory, an mmproj GGUF, or random:e2b)")
        }
        let entries = try SourceList.parse(configuration.sources)
        if configuration.sources.isEmpty {
            throw DaemonError("no source: pass --source SPEC (alsa:default, pulse:, file:PATH, stdin:s16le:48000:2) "
                              + "or --source none to serve pushed audio only")
        }
        var captures: [(entry: SourceEntry, spec: SourceSpec, configuration: CaptureConfiguration)] = []
        for entry in entries {
            do {
                let spec = try SourceSpec(entry.spec)
                var capture = CaptureConfiguration()
                spec.apply(to: &capture)
                try CaptureSession.check(spec.source, configuration: capture)
                captures.append((entry, spec, capture))
            } catch {
                throw sourceError(entry, error)
            }
        }
        let uids: Set<UInt32>, gids: Set<UInt32>
        do {
            uids = Set(try configuration.allowUsers.map { try SocketAccess.userID($0) })
            gids = Set(try configuration.allowGroups.map { try SocketAccess.groupID($0) })
            if let group = configuration.group { _ = try SocketAccess.groupID(group) }
        } catch {
            throw DaemonError("\(error)")
        }
        // gRPC's settings are checked (and its TLS files read) before the model loads.
        let grpc = try configuration.grpcServerConfiguration()
        let liveView = try configuration.liveViewConfiguration()
        try FileBudget.check(configuration, limit: fileLimit)
        return Preflight(modelPath: modelPath, captures: captures, allowedUIDs: uids, allowedGIDs: gids, grpc: grpc,
                         liveView: liveView)
    }

    /// Loads the model `path` names, of either family: an Echo directory (its `earshot-model.json` says so) or
    /// `random:echo` runs in f32 (`--precision auto` or `f32`); anything else is a Gemma 4 checkpoint at `precision`.
    /// Returns the model and where it came from, for the log.
    static func loadModel(path: String, precision: PrecisionSetting, logger: Logger) throws
        -> (model: any ServedModel, source: String) {
        if EchoModel.isEchoModel(path: path) {
            guard precision == .auto || precision == .f32 else {
                throw DaemonError("--precision \(precision.rawValue): Echo models run in f32 only (use auto or f32)")
            }
            logger.info("loading model", metadata: ["path": "\(path)", "family": "echo", "precision": "f32"])
            do {
                let model = try EchoModel.load(path: path)
                return (model, model.sourceDescription)
            } catch {
                throw DaemonError("cannot load the model: \(error)")
            }
        }
        logger.info("loading model", metadata: ["path": "\(path)", "family": "gemma4",
                                                "precision": "\(precision.resolved.rawValue)"])
        do {
            let model = try Gemma4AudioModel.load(path: path, precision: precision.resolved)
            return (model, "\(model.sourceDescription) (\(model.precision.rawValue))")
        } catch {
            throw DaemonError("cannot load the model: \(error)")
        }
    }

    /// Voice activity as configured: the weights loaded once (from `vad-model`, else `VADModelLocation`'s lookup) and
    /// `VADIterator`'s settings; nil when `vad = off`.
    static func voiceActivity(_ configuration: DaemonConfiguration, logger: Logger) throws
        -> VoiceActivityConfiguration? {
        guard configuration.vad else {
            logger.info("voice activity off")
            return nil
        }
        let weights: SileroVADWeights
        do {
            let path = try configuration.vadModel ?? VADModelLocation.resolve()
            weights = try SileroVADWeights(path: path)
            logger.info("voice activity on", metadata: [
                "weights": "\(path)", "threshold": "\(configuration.vadThreshold)",
                "minSilenceMs": "\(configuration.vadMinSilenceMs)", "speechPadMs": "\(configuration.vadSpeechPadMs)"])
        } catch {
            throw DaemonError("cannot load the voice-activity weights: \(error) (or run without: --no-vad)")
        }
        return VoiceActivityConfiguration(weights: weights, events: SpeechEventConfiguration(
            threshold: configuration.vadThreshold, minSilenceMs: configuration.vadMinSilenceMs,
            speechPadMs: configuration.vadSpeechPadMs))
    }
}
