import AudioCapture
import BuildInfo
import EarshotGRPC
import EarshotServer
import EncodingScheduler
import Foundation
import Gemma4Audio
import Logging
import ServiceLifecycle
import UnixSignals
import VoiceActivity
import WireProtocol

/// `earshotd` as a library call: validates the configuration, loads the model, opens the sources, then runs the
/// services (compute → socket server → one per source → watchdog → SIGHUP reload) in a `ServiceGroup` until a stop
/// signal, which drains and stops them in reverse order.
///
/// Signals: SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 drain and exit 0; SIGHUP reloads (``ReloadService``); SIGQUIT keeps
/// its default (exit with a core dump, for debugging). From the start of `run`, before the model is loaded, SIGHUP,
/// SIGUSR1 and SIGUSR2 are ignored, so none of them can kill the daemon before its handlers are in place.
package enum Daemon {
    /// Signals that stop the daemon as SIGTERM does: drain clients, remove the socket file, exit 0.
    static let stopSignals: [UnixSignal] = [.sigterm, .sigint, .sigusr1, .sigusr2]

    /// Runs until a stop signal. Throws a ``DaemonError`` (one line) for anything wrong at startup.
    /// `resolve` reads the configuration again (on SIGHUP); `level` is the log level `logger` reads.
    package static func run(_ configuration: DaemonConfiguration, logger: Logger, level: LiveLogLevel,
                            resolve: @escaping @Sendable () throws -> DaemonConfiguration) async throws {
        for number in [SIGHUP, SIGUSR1, SIGUSR2] { signal(number, SIG_IGN) }
        guard let modelPath = configuration.model else {
            throw DaemonError("no model: pass --model PATH (a Hugging Face Gemma 4 directory, an mmproj GGUF, or random:e2b)")
        }
        let entries = try SourceList.parse(configuration.sources)
        if configuration.sources.isEmpty {
            throw DaemonError("no source: pass --source SPEC (alsa:default, pulse:, file:PATH.wav, stdin:s16le:48000:2) "
                              + "or --source none to serve pushed audio only")
        }
        var captures: [(SourceEntry, CaptureSource)] = []
        for entry in entries {
            do {
                captures.append((entry, try CaptureSource(spec: entry.spec)))
            } catch {
                throw DaemonError("--source \(entry.spec) (stream '\(entry.name)'): \(error)")
            }
        }
        let listenDescriptor = try SocketActivation.takeListeningDescriptor()
        var server = ServerConfiguration(socketPath: configuration.socket ?? DaemonConfiguration.defaultSocketPath())
        server.listenDescriptor = listenDescriptor
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
        do {
            server.allowedUIDs = Set(try configuration.allowUsers.map { try SocketAccess.userID($0) })
            server.allowedGIDs = Set(try configuration.allowGroups.map { try SocketAccess.groupID($0) })
            if let group = configuration.group { _ = try SocketAccess.groupID(group) }
        } catch {
            throw DaemonError("\(error)")
        }
        if listenDescriptor == nil { try SocketAccess.checkBindable(server.socketPath) }

        // gRPC's settings are checked (and its TLS files read) before the model loads.
        let grpc = try configuration.grpcServerConfiguration()

        let loadStart = ContinuousClock.now
        let model: Gemma4AudioModel
        do {
            model = try Gemma4AudioModel.load(path: modelPath, precision: configuration.precision.resolved)
        } catch {
            throw DaemonError("cannot load the model: \(error)")
        }
        let c = model.configuration
        logger.info("model loaded", metadata: [
            "model": "\(model.sourceDescription)", "precision": "\(model.precision.rawValue)",
            "D": "\(c.textHiddenSize)", "P": "\(c.outputProjectionSize)",
            "layers": "\(c.layerCount)", "seconds": "\(ContinuousClock.now - loadStart)"])

        var scheduling = SchedulerConfiguration()
        scheduling.voiceActivity = try Self.voiceActivity(configuration, logger: logger)
        scheduling.blockTokens = configuration.blockTokens
        scheduling.computeThreads = configuration.computeThreads
        scheduling.productThreads = configuration.productThreads
            ?? max(1, ProcessInfo.processInfo.activeProcessorCount / configuration.computeThreads)
        let metrics = configuration.metricsAddress.map { _ in StatusMetrics() }
        let engine = Engine(model: model, modelID: modelPath, scheduler: scheduling,
                            historyTokens: Int(configuration.historySeconds * 25), maxClients: configuration.maxClients,
                            metrics: metrics.map { EngineMetrics(factory: $0.factory) } ?? EngineMetrics())

        var sourceServices: [LiveSourceService] = []
        for (entry, source) in captures {
            let stream = try engine.addLiveStream(name: entry.name, source: entry.spec)
            let session: CaptureSession
            do {
                session = try await CaptureSession.start(source)
            } catch {
                throw DaemonError("--source \(entry.spec) (stream '\(entry.name)'): \(error)")
            }
            logger.info("capturing", metadata: ["stream": "\(entry.name)", "source": "\(entry.spec)",
                                                "format": "\(session.deviceFormat)"])
            sourceServices.append(LiveSourceService(session: session, stream: stream, clock: engine.clock, logger: logger))
        }

        let notifier = SystemdNotifier()
        let socketDescription = listenDescriptor.map { "socket-activated fd \($0)" } ?? server.socketPath
        let socketServer = SocketServer(engine: engine, configuration: server, logger: logger) {
            notifier.notify("READY=1\nSTATUS=serving on \(socketDescription)\nMAINPID=\(getpid())")
        }
        let watchdog = WatchdogService(notifier: notifier, interval: SystemdNotifier.watchdogInterval(),
                                       logger: logger) { engine.isHealthy }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ComputeService(engine: engine, logger: logger)),
            .init(service: socketServer),
        ]
        if let grpc {
            let backend = EngineBackend(engine: engine, payloads: server.payloadTypes) { socketServer.status() }
            do {
                let service = try GRPCServerService(configuration: grpc, backend: backend, logger: logger)
                services.append(.init(service: service))
                services.append(.init(service: GRPCHealthFollower(health: service.health) { engine.isHealthy }))
            } catch {
                throw DaemonError("--grpc-address \(grpc.host):\(grpc.port): \(error)")
            }
        }
        for service in sourceServices {
            // A file that plays out, or a device that gives up, ends its stream, not the daemon.
            services.append(.init(service: service, successTerminationBehavior: .ignore,
                                  failureTerminationBehavior: .ignore))
        }
        if let address = configuration.metricsAddress, let metrics {
            services.append(.init(service: MetricsServer(host: address.host, port: address.port, metrics: metrics,
                                                         logger: logger, status: { socketServer.status() })))
        }
        services.append(.init(service: watchdog))
        services.append(.init(service: ReloadService(resolve: resolve, running: configuration, level: level,
                                                     logger: logger)))
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = stopSignals
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(1800)
        groupConfiguration.maximumCancellationDuration = .milliseconds(150)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            throw DaemonError("\(error)")
        }
        logger.info("stopped")
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
