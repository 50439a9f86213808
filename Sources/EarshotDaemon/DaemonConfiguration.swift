import Foundation
import EarshotTypes
import Gemma4Audio
import Logging

/// Everything `earshotd` is told, from its config file and then its command line (the command line wins).
///
/// The config file is `key = value` lines; `#` starts a comment; keys are the long option names without `--`;
/// `source`, `allow-uid` and `allow-gid` may repeat (see docs/daemon.md):
///
///     model = /var/lib/earshot/gemma-4-e2b
///     source = mic=alsa:default
///     socket = /run/earshot/earshot.sock
///     group = earshot
///     block-tokens = 12
package struct DaemonConfiguration: Sendable, Equatable {
    package var model: String?
    package var sources: [String] = []
    package var socket: String?
    package var group: String?
    package var socketMode: UInt32 = 0o660
    package var allowUsers: [String] = []
    package var allowGroups: [String] = []
    package var blockTokens = 12
    package var computeThreads = 1
    /// Product threads per compute thread; nil: the online CPUs shared out among the compute threads.
    package var productThreads: Int?
    /// `auto`, `f32`, `bf16` or `fast`: a `PrecisionSetting`'s raw value, only ever set through its parser (auto = the
    /// fastest precision that meets the accuracy bar here).
    package var precision = PrecisionSetting.auto
    package var maxClients = 64
    package var maxPushedStreams = 4
    package var maxSubscriptions = 64
    /// Seconds a connection has to complete its `hello`.
    package var helloTimeout = 10.0
    /// Seconds a connection may send nothing while holding no stream, or leave a frame unfinished.
    package var idleTimeout = 300.0
    package var maxFrameBytes = 1 << 20
    package var historySeconds = 30.0
    /// Seconds of unencoded audio a live stream holds: past it a real-time source's oldest audio is dropped, a
    /// backpressured one (stdin) waits.
    package var liveBacklogSeconds = 4.0
    package var sendQueueFrames = 1024
    package var sendBufferBytes: Int?
    package var logLevel: Logger.Level = .info
    /// Silero VAD on every stream (speech events, the `speech` flag); on by default.
    package var vad = true
    /// The VAD weights; nil: `VADModelLocation`'s lookup (as `earshot vad`).
    package var vadModel: String?
    /// `VADIterator`'s threshold, min silence and speech pad.
    package var vadThreshold = 0.5
    package var vadMinSilenceMs = 100
    package var vadSpeechPadMs = 30
    /// Where Prometheus metrics are served (`GET /metrics`); nil: not served.
    package var metricsAddress: ListenAddress?

    // gRPC beside the socket (issue #14; docs/grpc.md): off unless `grpcAddress` is set.
    /// `HOST:PORT` (an IP literal or localhost; `[::]:PORT` for every interface).
    package var grpcAddress: String?
    /// PEM certificate chain and key: TLS on.
    package var grpcTLSCert: String?
    package var grpcTLSKey: String?
    /// PEM CA: clients must present a certificate it signed (mutual TLS).
    package var grpcClientCA: String?
    /// A file holding the bearer token every call but health must carry.
    package var grpcTokenFile: String?
    /// Plain text on a non-loopback address (refused by default).
    package var grpcAllowPlaintext = false
    /// A plain-text listener serving only gRPC health (for Kubernetes probes); nil: none.
    package var grpcHealthAddress: ListenAddress?

    // The live view (issue #23; docs/operations.md): off unless `httpAddress` is set. Security as gRPC's.
    /// Where the page and its WebSocket feeds are served.
    package var httpAddress: ListenAddress?
    package var httpTLSCert: String?
    package var httpTLSKey: String?
    /// A file holding the bearer token the feeds and `/v1/status` need (the page's own files do not).
    package var httpTokenFile: String?
    /// Plain text on a non-loopback address (refused by default).
    package var httpAllowPlaintext = false

    // Connections each TCP listener holds at once; one more is closed as it is accepted. Their deadlines are the
    // socket's: the first request within `helloTimeout`, closed after `idleTimeout` with no request open.
    package var grpcMaxConnections = 64
    package var grpcHealthMaxConnections = 16
    package var metricsMaxConnections = 16
    package var httpMaxConnections = 64

    package init() {}

    /// The default socket: `$XDG_RUNTIME_DIR/earshot/earshot.sock` for a user, `/run/earshot/earshot.sock` for root or
    /// when no runtime directory is set. Clients use the same rule (after `$EARSHOT_SOCKET`).
    package static func defaultSocketPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit = environment["EARSHOT_SOCKET"], !explicit.isEmpty { return explicit }
        if getuid() != 0, let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            return runtime + "/earshot/earshot.sock"
        }
        return "/run/earshot/earshot.sock"
    }

    /// Applies a config file's settings.
    package mutating func apply(configFile path: String) throws(DaemonError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DaemonError("\(path): cannot read the config file (\((error as NSError).localizedDescription))")
        }
        try apply(configText: text, path: path)
    }

    package mutating func apply(configText text: String, path: String) throws(DaemonError) {
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let at = "\(path):\(number + 1)"
            guard let eq = trimmed.firstIndex(of: "=") else { throw DaemonError("\(at): expected 'key = value'") }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
            try set(key, value, at: at)
        }
    }

    private mutating func set(_ key: String, _ value: String, at: String) throws(DaemonError) {
        func int(_ range: ClosedRange<Int>) throws(DaemonError) -> Int {
            guard let n = Int(value), range.contains(n) else {
                throw DaemonError("\(at): \(key) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return n
        }
        func seconds(_ range: ClosedRange<Double>) throws(DaemonError) -> Double {
            guard let s = Double(value), range.contains(s) else {
                throw DaemonError("\(at): \(key) must be seconds from \(range.lowerBound) to \(range.upperBound)")
            }
            return s
        }
        switch key {
        case "model": model = value
        case "source": sources.append(value)
        case "socket": socket = value
        case "group": group = value
        case "socket-mode":
            guard let mode = UInt32(value, radix: 8), mode <= 0o777 else {
                throw DaemonError("\(at): socket-mode must be octal, e.g. 660")
            }
            socketMode = mode
        case "allow-uid": allowUsers.append(value)
        case "allow-gid": allowGroups.append(value)
        case "block-tokens":
            guard let n = Int(value) else { throw DaemonError("\(at): block-tokens must be a whole number") }
            do { try Gemma4AudioConfiguration.validate(blockTokens: n) } catch { throw DaemonError("\(at): \(error)") }
            blockTokens = n
        case "precision":
            do { precision = try PrecisionSetting.parse(value) } catch { throw DaemonError("\(at): \(error)") }
        case "compute-threads": computeThreads = try int(1...64)
        case "product-threads": productThreads = try int(1...64)
        case "max-clients": maxClients = try int(1...100_000)
        case "max-pushed-streams": maxPushedStreams = try int(0...1024)
        case "max-subscriptions": maxSubscriptions = try int(1...100_000)
        case "hello-timeout": helloTimeout = try seconds(Self.helloTimeoutRange)
        case "idle-timeout": idleTimeout = try seconds(Self.idleTimeoutRange)
        case "max-frame-bytes": maxFrameBytes = try int(64...(64 << 20))
        case "history-seconds":
            guard let s = Double(value), s >= 0, s <= 3600 else {
                throw DaemonError("\(at): history-seconds must be 0…3600")
            }
            historySeconds = s
        case "live-backlog-seconds": liveBacklogSeconds = try seconds(Self.liveBacklogRange)
        case "send-queue-frames": sendQueueFrames = try int(1...1_000_000)
        case "send-buffer-bytes": sendBufferBytes = try int(1024...(64 << 20))
        case "vad":
            guard let on = ["on": true, "off": false, "true": true, "false": false][value] else {
                throw DaemonError("\(at): vad must be on or off")
            }
            vad = on
        case "vad-model": vadModel = value
        case "vad-threshold":
            guard let t = Double(value), Self.vadThresholdRange.contains(t) else {
                throw DaemonError("\(at): vad-threshold must be from \(Self.vadThresholdRange.lowerBound) to "
                                  + "\(Self.vadThresholdRange.upperBound)")
            }
            vadThreshold = t
        case "vad-min-silence-ms": vadMinSilenceMs = try int(Self.vadMillisecondsRange)
        case "vad-speech-pad-ms": vadSpeechPadMs = try int(Self.vadMillisecondsRange)
        case "metrics-address":
            do { metricsAddress = try ListenAddress(parsing: value, option: "\(at): metrics-address") } catch {
                throw DaemonError(error.description)
            }
        case "grpc-address": grpcAddress = value
        case "grpc-health-address":
            do { grpcHealthAddress = try ListenAddress(parsing: value, option: "\(at): grpc-health-address") } catch {
                throw DaemonError(error.description)
            }
        case "grpc-tls-cert": grpcTLSCert = value
        case "grpc-tls-key": grpcTLSKey = value
        case "grpc-client-ca": grpcClientCA = value
        case "grpc-token-file": grpcTokenFile = value
        case "grpc-max-connections": grpcMaxConnections = try int(Self.maxConnectionsRange)
        case "grpc-health-max-connections": grpcHealthMaxConnections = try int(Self.maxConnectionsRange)
        case "metrics-max-connections": metricsMaxConnections = try int(Self.maxConnectionsRange)
        case "http-address":
            do { httpAddress = try ListenAddress(parsing: value, option: "\(at): http-address") } catch {
                throw DaemonError(error.description)
            }
        case "http-tls-cert": httpTLSCert = value
        case "http-tls-key": httpTLSKey = value
        case "http-token-file": httpTokenFile = value
        case "http-max-connections": httpMaxConnections = try int(Self.maxConnectionsRange)
        case "http-allow-plaintext":
            guard let on = ["on": true, "off": false, "true": true, "false": false][value] else {
                throw DaemonError("\(at): http-allow-plaintext must be on or off")
            }
            httpAllowPlaintext = on
        case "grpc-allow-plaintext":
            guard let on = ["on": true, "off": false, "true": true, "false": false][value] else {
                throw DaemonError("\(at): grpc-allow-plaintext must be on or off")
            }
            grpcAllowPlaintext = on
        case "log-level":
            guard let level = Logger.Level(rawValue: value) else {
                let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw DaemonError("\(at): log-level must be one of \(names)")
            }
            logLevel = level
        default:
            throw DaemonError("\(at): unknown setting '\(key)'")
        }
    }

    /// A threshold p with p − 0.15 (the silence threshold) still meaningful, and below 1.
    package static let vadThresholdRange = 0.15...0.99
    package static let vadMillisecondsRange = 0...10_000
    package static let helloTimeoutRange = 0.1...3600.0
    package static let liveBacklogRange = 0.02...600.0
    package static let idleTimeoutRange = 0.1...86_400.0
    package static let maxConnectionsRange = 1...100_000
}
