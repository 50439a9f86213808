import ArgumentParser
import BuildInfo
import EarshotTypes
import Foundation
import Gemma4Audio
import Logging

/// `earshotd`: parses its options, merges the config file, sets up logging and runs ``Daemon``.
public struct EarshotdCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "earshotd",
        abstract: "Listen to microphones and serve Gemma 4 audio embeddings on a Unix socket.",
        discussion: """
            Each --source becomes a named live stream ('mic' for the first unnamed one; NAME=SPEC for more): \
            alsa:DEVICE, pulse:[SOURCE], file:PATH (played in real time), stdin:FORMAT:RATE:CHANNELS, or none \
            (push-only). Options follow a '?': file:PATH?loop plays the file again and again on one timeline, \
            file:PATH?fast reads it as fast as the encoder takes it, both: ?loop,fast. Devices and real-time files \
            never wait for the encoder: audio it cannot keep is dropped, counted and warned about (at most one line \
            per 10 s per stream). stdin: waits instead (the writer blocks; nothing is lost); stdin:…?realtime drops \
            like a device. Files, the socket path and the TCP ports are checked before the model loads. Clients \
            subscribe to live streams or push their own audio; see docs/protocol.md and docs/daemon.md. SIGTERM, SIGINT, SIGUSR1 or SIGUSR2 drains clients and exits; SIGHUP reloads the \
            configuration, checked as a start would check it (a configuration the next start would refuse is logged \
            as an error and changes nothing; log-level applies at once; other changes are logged and wait for a \
            restart). Under \
            systemd: Type=notify, socket activation and the watchdog are supported.
            """,
        version: BuildInfo.versionLine)

    @Option(help: "Gemma 4 model: a Hugging Face directory, a llama.cpp mmproj GGUF, or random:e2b (demo only).")
    var model: String?

    @Option(help: ArgumentHelp("Sources, comma-separated or repeated: SPEC or NAME=SPEC (SPEC?OPTIONS: file: loop, fast; stdin: realtime); 'none' for push-only.",
                               valueName: "SPEC[,SPEC…]"))
    var source: [String] = []

    @Option(help: "The Unix socket path (default: $EARSHOT_SOCKET, else $XDG_RUNTIME_DIR/earshot/earshot.sock, else /run/earshot/earshot.sock).")
    var socket: String?

    @Option(help: "A config file of 'key = value' lines (docs/daemon.md); options given here win.")
    var config: String?

    @Option(help: "Tokens per encoder pass, 1…12: latency (block × 40 ms) against throughput.")
    var blockTokens: Int?

    @Option(help: "Dedicated compute threads.")
    var computeThreads: Int?

    @Option(help: "Threads each compute thread's matrix products use (default: the online CPUs divided among the compute threads). f32 results do not depend on it.")
    var productThreads: Int?

    @Option(help: "auto (default: the fastest that meets the accuracy bar on this CPU — bf16 where oneDNN runs bf16 on AMX, else f32), f32 (exact; results independent of thread counts) bf16 (needs native bf16) or fast (bf16 dot products on Earshot's kernels; needs AVX512_BF16; results independent of thread counts).")
    var precision: String?

    @Option(help: "Group that owns the socket (mode 0660): its members may connect.")
    var group: String?

    @Option(help: "Mode of the socket file earshotd creates, in octal (default 660).")
    var socketMode: String?

    @Option(name: .customLong("allow-uid"), help: "Only these users may connect (name or uid; repeatable). root and the daemon's own user always may.")
    var allowUID: [String] = []

    @Option(name: .customLong("allow-gid"), help: "Only members of these groups may connect (name or gid; repeatable).")
    var allowGID: [String] = []

    @Option(help: "Most clients at once, of every transport: socket connections, gRPC calls, WebSocket feeds (default 64).")
    var maxClients: Int?

    @Option(help: "Subscriptions one connection may hold (default 64).")
    var maxSubscriptions: Int?

    @Option(help: "Seconds a client has to send its hello before it is closed (default 10).")
    var helloTimeout: Double?

    @Option(help: "Seconds a client may send nothing while holding no stream, or leave a frame unfinished, before it is closed (default 300).")
    var idleTimeout: Double?

    @Option(help: "Seconds of tokens each live stream keeps for subscribers starting from the oldest.")
    var historySeconds: Double?

    @Option(help: "The least severe messages logged.")
    var logLevel: Logger.Level?

    @Flag(inversion: .prefixedNo, help: "Voice activity (Silero VAD) on every stream: speech events and the speech flag (default on).")
    var vad: Bool?

    @Option(help: "The Silero VAD weights (default: $EARSHOT_VAD_MODEL, else share/earshot/silero-vad/ beside the executable's prefix, else models/silero-vad/ above the executable, else /usr/local/share/earshot/silero-vad/ or /usr/share/earshot/silero-vad/).")
    var vadModel: String?

    @Option(help: "VAD speech threshold (default 0.5; silence is below threshold − 0.15).")
    var vadThreshold: Double?

    @Option(help: "VAD: milliseconds of silence that end speech (default 100).")
    var vadMinSilenceMs: Int?

    @Option(help: "VAD: milliseconds added before a start and after an end (default 30).")
    var vadSpeechPadMs: Int?

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics and health probes at /healthz (alive) and /readyz (200 when ready, else 503 and why) (off by default; e.g. 127.0.0.1:9464).")
    var metricsAddress: String?

    // MARK: gRPC (issue #14; docs/grpc.md)

    @Option(help: "Also serve gRPC (proto/earshot/v1/earshot.proto) on HOST:PORT; off by default. Without TLS only a loopback address is allowed.")
    var grpcAddress: String?

    @Option(help: "gRPC TLS: the server's PEM certificate chain.")
    var grpcTlsCert: String?

    @Option(help: "gRPC TLS: the server's PEM private key.")
    var grpcTlsKey: String?

    @Option(help: "gRPC mutual TLS: clients must present a certificate signed by this PEM CA.")
    var grpcClientCa: String?

    @Option(help: "gRPC: a file holding the bearer token every call must carry (authorization: Bearer TOKEN); health checks are exempt.")
    var grpcTokenFile: String?

    @Flag(help: "gRPC: allow plain text on a non-loopback address (a trusted network, or TLS terminated in front).")
    var grpcAllowPlaintext = false

    @Option(help: "gRPC: also serve only the health service, in plain text, on HOST:PORT (for Kubernetes grpc probes, which speak neither TLS nor tokens).")
    var grpcHealthAddress: String?

    @Option(help: "Connections the gRPC listener holds at once (default 64); one more is closed as it is accepted.")
    var grpcMaxConnections: Int?

    @Option(help: "Connections the gRPC health listener holds at once (default 16).")
    var grpcHealthMaxConnections: Int?

    @Option(help: "Connections the metrics listener holds at once (default 16).")
    var metricsMaxConnections: Int?

    // MARK: The live view (issue #23; docs/operations.md)

    @Option(help: "Serve the live view on HOST:PORT: a web page (/) with each live stream's spectrogram, tokens, voice activity and load, WebSocket feeds of tokens (/v1/streams/NAME/ws) and log-mel frames, and a WebSocket push (/v1/push/ws); off by default. Without TLS only a loopback address is allowed.")
    var httpAddress: String?

    @Option(help: "Live view TLS: the server's PEM certificate chain.")
    var httpTlsCert: String?

    @Option(help: "Live view TLS: the server's PEM private key.")
    var httpTlsKey: String?

    @Option(help: "Live view: a file holding the bearer token the feeds and /v1/status need (Authorization: Bearer TOKEN, or ?token=TOKEN; open the page as /?token=TOKEN).")
    var httpTokenFile: String?

    @Flag(help: "Live view: allow plain text on a non-loopback address (a trusted network, or TLS terminated in front).")
    var httpAllowPlaintext = false

    @Option(help: "Connections the live view's listener holds at once (default 64).")
    var httpMaxConnections: Int?

    public init() {}

    /// The configuration after the config file and these options.
    package func resolved() throws -> DaemonConfiguration {
        var c = DaemonConfiguration()
        if let config { try c.apply(configFile: config) }
        if let model { c.model = model }
        if !source.isEmpty { c.sources = source }
        if let socket { c.socket = socket }
        if let group { c.group = group }
        if let socketMode {
            guard let mode = UInt32(socketMode, radix: 8), mode <= 0o777 else {
                throw DaemonError("--socket-mode must be octal, e.g. 660")
            }
            c.socketMode = mode
        }
        if !allowUID.isEmpty { c.allowUsers = allowUID }
        if !allowGID.isEmpty { c.allowGroups = allowGID }
        if let blockTokens {
            do { try Gemma4AudioConfiguration.validate(blockTokens: blockTokens) } catch {
                throw DaemonError("--\(error)")
            }
            c.blockTokens = blockTokens
        }
        if let computeThreads {
            guard (1...64).contains(computeThreads) else { throw DaemonError("--compute-threads must be 1…64") }
            c.computeThreads = computeThreads
        }
        if let productThreads {
            guard (1...64).contains(productThreads) else { throw DaemonError("--product-threads must be 1…64") }
            c.productThreads = productThreads
        }
        if let precision {
            do { c.precision = try PrecisionSetting.parse(precision) } catch {
                throw DaemonError("--\(error)")
            }
        }
        if let maxClients {
            guard maxClients >= 1 else { throw DaemonError("--max-clients must be at least 1") }
            c.maxClients = maxClients
        }
        if let maxSubscriptions {
            guard maxSubscriptions >= 1 else { throw DaemonError("--max-subscriptions must be at least 1") }
            c.maxSubscriptions = maxSubscriptions
        }
        if let helloTimeout {
            let range = DaemonConfiguration.helloTimeoutRange
            guard range.contains(helloTimeout) else {
                throw DaemonError("--hello-timeout must be \(range.lowerBound)…\(range.upperBound) seconds")
            }
            c.helloTimeout = helloTimeout
        }
        if let idleTimeout {
            let range = DaemonConfiguration.idleTimeoutRange
            guard range.contains(idleTimeout) else {
                throw DaemonError("--idle-timeout must be \(range.lowerBound)…\(range.upperBound) seconds")
            }
            c.idleTimeout = idleTimeout
        }
        if let metricsAddress {
            do { c.metricsAddress = try ListenAddress(parsing: metricsAddress, option: "--metrics-address") } catch {
                throw DaemonError(error.description)
            }
        }
        if let historySeconds {
            guard historySeconds >= 0, historySeconds <= 3600 else { throw DaemonError("--history-seconds must be 0…3600") }
            c.historySeconds = historySeconds
        }
        if let vad { c.vad = vad }
        if let vadModel { c.vadModel = vadModel }
        if let vadThreshold {
            let range = DaemonConfiguration.vadThresholdRange
            guard range.contains(vadThreshold) else {
                throw DaemonError("--vad-threshold must be \(range.lowerBound)…\(range.upperBound)")
            }
            c.vadThreshold = vadThreshold
        }
        for (name, value, path) in [("--vad-min-silence-ms", vadMinSilenceMs, \DaemonConfiguration.vadMinSilenceMs),
                                    ("--vad-speech-pad-ms", vadSpeechPadMs, \DaemonConfiguration.vadSpeechPadMs)] {
            guard let value else { continue }
            let range = DaemonConfiguration.vadMillisecondsRange
            guard range.contains(value) else {
                throw DaemonError("\(name) must be \(range.lowerBound)…\(range.upperBound)")
            }
            c[keyPath: path] = value
        }
        if let httpAddress {
            do { c.httpAddress = try ListenAddress(parsing: httpAddress, option: "--http-address") } catch {
                throw DaemonError(error.description)
            }
        }
        if let httpTlsCert { c.httpTLSCert = httpTlsCert }
        if let httpTlsKey { c.httpTLSKey = httpTlsKey }
        if let httpTokenFile { c.httpTokenFile = httpTokenFile }
        if httpAllowPlaintext { c.httpAllowPlaintext = true }
        if let grpcAddress { c.grpcAddress = grpcAddress }
        if let grpcTlsCert { c.grpcTLSCert = grpcTlsCert }
        if let grpcTlsKey { c.grpcTLSKey = grpcTlsKey }
        if let grpcClientCa { c.grpcClientCA = grpcClientCa }
        if let grpcTokenFile { c.grpcTokenFile = grpcTokenFile }
        if grpcAllowPlaintext { c.grpcAllowPlaintext = true }
        if let grpcHealthAddress {
            do { c.grpcHealthAddress = try ListenAddress(parsing: grpcHealthAddress, option: "--grpc-health-address") } catch {
                throw DaemonError(error.description)
            }
        }
        for (name, value, path) in [
            ("--grpc-max-connections", grpcMaxConnections, \DaemonConfiguration.grpcMaxConnections),
            ("--grpc-health-max-connections", grpcHealthMaxConnections, \DaemonConfiguration.grpcHealthMaxConnections),
            ("--metrics-max-connections", metricsMaxConnections, \DaemonConfiguration.metricsMaxConnections),
            ("--http-max-connections", httpMaxConnections, \DaemonConfiguration.httpMaxConnections),
        ] {
            guard let value else { continue }
            let range = DaemonConfiguration.maxConnectionsRange
            guard range.contains(value) else {
                throw DaemonError("\(name) must be \(range.lowerBound)…\(range.upperBound)")
            }
            c[keyPath: path] = value
        }
        if let logLevel { c.logLevel = logLevel }
        return c
    }

    public func run() async throws {
        do {
            let configuration = try resolved()
            let level = LiveLogLevel(configuration.logLevel)
            let logger = Logger(label: "earshotd") { LiveLevelLogHandler(label: $0, level: level) }
            // SIGHUP resolves the same arguments again, so the config file is re-read and the command line still wins.
            let arguments = Array(CommandLine.arguments.dropFirst())
            try await Daemon.run(configuration, logger: logger, level: level) {
                try EarshotdCommand.parse(arguments).resolved()
            }
        } catch {
            let line = Array("earshotd: \(error)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            throw ExitCode.failure
        }
    }
}

extension EarshotdCommand {
    /// Parses the process's arguments and runs the daemon (the async entry point `main.swift` calls).
    public static func runFromCommandLine() async {
        do {
            var command = try parseAsRoot()
            if let daemon = command as? EarshotdCommand {
                try await daemon.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// `--log-level` takes swift-log's own level names (`Logger.Level`'s raw values), as the config file does. The
/// conformance is retroactive: neither package declares it, and only earshotd's options parse levels.
extension Logger.Level: @retroactive ExpressibleByArgument {}
