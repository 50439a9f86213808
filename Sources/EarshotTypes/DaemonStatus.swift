/// What a running earshotd is doing: the `statusReport` of the socket protocol, the gRPC `Status` answer,
/// `earshot status --json`, `earshot top`, and the source of every Prometheus gauge and counter. One value, encoded as
/// JSON with the keys of docs/protocol.md ("Status"); counters only grow over the daemon's life.
public struct DaemonStatus: Codable, Sendable, Equatable {
    /// Server name and version, e.g. "earshotd 0.3.0".
    public var server: String
    /// The daemon's release, e.g. "0.3.0" (absent from daemons before 0.3.0).
    public var version: String?
    /// The git revision the daemon was built from: 8 hex digits, or "unknown" (absent before 0.3.0).
    public var revision: String?
    /// The socket protocol's version.
    public var `protocol`: Int
    public var uptimeSeconds: Double
    public var model: Model
    /// Clients connected now, over the socket and gRPC.
    public var clients: Int
    public var maxClients: Int
    /// The socket's path ("" when systemd passed the socket).
    public var socket: String
    public var streams: [Stream]
    /// One entry per connected client.
    public var connections: [Connection]
    public var compute: Compute
    public var voiceActivity: VoiceActivity
    /// Token latency: from the end of a token's audio to its send, over the most recent tokens sent.
    public var latency: Latency
    /// Life-time counters.
    public var totals: Totals

    public init(server: String, version: String? = nil, revision: String? = nil, protocol: Int, uptimeSeconds: Double, model: Model, clients: Int, maxClients: Int,
                socket: String, streams: [Stream], connections: [Connection], compute: Compute,
                voiceActivity: VoiceActivity, latency: Latency, totals: Totals) {
        self.server = server
        self.version = version
        self.revision = revision
        self.protocol = `protocol`
        self.uptimeSeconds = uptimeSeconds
        self.model = model
        self.clients = clients
        self.maxClients = maxClients
        self.socket = socket
        self.streams = streams
        self.connections = connections
        self.compute = compute
        self.voiceActivity = voiceActivity
        self.latency = latency
        self.totals = totals
    }

    public struct Model: Codable, Sendable, Equatable {
        public var id: String
        /// The encoder family: `gemma4` or `echo`.
        public var family: String
        /// The embedding width (Gemma 4: the language model's hidden size; Echo: its encoder output, as `P`).
        public var D: Int
        /// The encoder output width.
        public var P: Int
        /// Tokens per pass per stream: a token waits for its block (Echo: a whole window).
        public var blockTokens: Int
        public var layers: Int
        /// 16 kHz samples per token (Gemma 4: 640; Echo: 160).
        public var samplesPerToken: Int

        public init(id: String, family: String, D: Int, P: Int, blockTokens: Int, layers: Int, samplesPerToken: Int) {
            self.id = id
            self.family = family
            self.D = D
            self.P = P
            self.blockTokens = blockTokens
            self.layers = layers
            self.samplesPerToken = samplesPerToken
        }

        private enum CodingKeys: String, CodingKey {
            case id, family, D, P, blockTokens, layers, samplesPerToken
        }

        /// `family` and `samplesPerToken` came with Echo: a daemon before them served Gemma 4 alone (640 samples).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            family = try c.decodeIfPresent(String.self, forKey: .family) ?? "gemma4"
            D = try c.decode(Int.self, forKey: .D)
            P = try c.decode(Int.self, forKey: .P)
            blockTokens = try c.decode(Int.self, forKey: .blockTokens)
            layers = try c.decode(Int.self, forKey: .layers)
            samplesPerToken = try c.decodeIfPresent(Int.self, forKey: .samplesPerToken) ?? 640
        }
    }

    public enum StreamKind: String, Codable, Sendable {
        /// Captured from a device or file, fanned out to subscribers.
        case live
        /// Pushed by one client, for that client.
        case pushed
    }

    public enum StreamState: String, Codable, Sendable {
        case starting, running, deviceLost = "device-lost", ended, failed
    }

    public struct Stream: Codable, Sendable, Equatable {
        public var name: String
        public var kind: StreamKind
        /// The source spec of a live stream (nil for pushed streams).
        public var source: String?
        public var state: StreamState
        /// Samples accepted, at `inputRate`.
        public var samples: Int64
        public var inputRate: Int
        public var tokens: UInt64
        /// Subscribers of a live stream (nil for pushed streams).
        public var subscribers: Int?
        /// 16 kHz samples discarded because the encoder fell behind real time.
        public var overrunSamples: Int64
        /// Samples capture lost before the encoder saw them: its queue overflowed, or the device dropped audio.
        public var captureLostSamples: Int64
        /// Times the stream's device went away.
        public var deviceLosses: Int
        /// Seconds of audio the voice-activity detector has called speech (ended runs).
        public var speechSeconds: Double
        /// Unencoded audio waiting for a compute thread, in seconds.
        public var backlogSeconds: Double

        public init(name: String, kind: StreamKind, source: String?, state: StreamState, samples: Int64,
                    inputRate: Int, tokens: UInt64, subscribers: Int?, overrunSamples: Int64, captureLostSamples: Int64,
                    deviceLosses: Int,
                    speechSeconds: Double, backlogSeconds: Double) {
            self.name = name
            self.kind = kind
            self.source = source
            self.state = state
            self.samples = samples
            self.inputRate = inputRate
            self.tokens = tokens
            self.subscribers = subscribers
            self.overrunSamples = overrunSamples
            self.captureLostSamples = captureLostSamples
            self.deviceLosses = deviceLosses
            self.speechSeconds = speechSeconds
            self.backlogSeconds = backlogSeconds
        }
    }

    /// How a client reached the daemon. A string, not a closed enum: a status from a newer daemon, with a transport
    /// this build does not know, still decodes (an older client's `statusReport()` must not fail because a browser
    /// is connected through a transport added after it was released).
    public struct Transport: RawRepresentable, Codable, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        public let rawValue: String

        public init(rawValue: String) { self.rawValue = rawValue }

        /// The Unix socket.
        public static let socket = Transport(rawValue: "socket")
        /// gRPC.
        public static let grpc = Transport(rawValue: "grpc")
        /// The live view's WebSocket feeds.
        public static let websocket = Transport(rawValue: "websocket")

        /// The transports this build serves.
        public static let allCases: [Transport] = [.socket, .grpc, .websocket]

        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
    }

    public struct Connection: Codable, Sendable, Equatable {
        public var id: Int
        public var transport: Transport
        /// Who is on the other end (pid/uid/gid for the socket, the address for gRPC).
        public var peer: String
        public var name: String
        public var subscriptions: Int
        public var pushes: Int
        /// Frames waiting in the client's send queue.
        public var queuedFrames: Int
        /// Live frames dropped because the client read too slowly.
        public var droppedFrames: UInt64

        public init(id: Int, transport: Transport, peer: String, name: String, subscriptions: Int, pushes: Int,
                    queuedFrames: Int, droppedFrames: UInt64) {
            self.id = id
            self.transport = transport
            self.peer = peer
            self.name = name
            self.subscriptions = subscriptions
            self.pushes = pushes
            self.queuedFrames = queuedFrames
            self.droppedFrames = droppedFrames
        }
    }

    public struct Compute: Codable, Sendable, Equatable {
        public var threads: Int
        public var passes: Int
        public var tokensEncoded: Int
        /// Time the compute threads spent working.
        public var busySeconds: Double
        /// Real-time factor over the last ~10 s: compute seconds per second of audio encoded (what a second of
        /// audio costs; `threads / realTimeFactor` streams fit). 0 before any audio.
        public var realTimeFactor: Double
        /// The fraction of the compute threads' time spent working over the last ~10 s (1: work waits, streams
        /// fall behind real time).
        public var utilization: Double

        public init(threads: Int, passes: Int, tokensEncoded: Int, busySeconds: Double, realTimeFactor: Double,
                    utilization: Double) {
            self.threads = threads
            self.passes = passes
            self.tokensEncoded = tokensEncoded
            self.busySeconds = busySeconds
            self.realTimeFactor = realTimeFactor
            self.utilization = utilization
        }
    }

    public struct VoiceActivity: Codable, Sendable, Equatable {
        public var on: Bool
        public var threshold: Double?
        public var minSilenceMs: Int?
        public var speechPadMs: Int?

        public init(on: Bool, threshold: Double? = nil, minSilenceMs: Int? = nil, speechPadMs: Int? = nil) {
            self.on = on
            self.threshold = threshold
            self.minSilenceMs = minSilenceMs
            self.speechPadMs = speechPadMs
        }
    }

    public struct Latency: Codable, Sendable, Equatable {
        /// Tokens the figures are taken over (0: none sent yet, and the figures are 0).
        public var tokens: Int
        public var p50Ms: Double
        public var p90Ms: Double
        public var p99Ms: Double
        public var maxMs: Double

        public init(tokens: Int = 0, p50Ms: Double = 0, p90Ms: Double = 0, p99Ms: Double = 0, maxMs: Double = 0) {
            self.tokens = tokens
            self.p50Ms = p50Ms
            self.p90Ms = p90Ms
            self.p99Ms = p99Ms
            self.maxMs = maxMs
        }
    }

    public struct Totals: Codable, Sendable, Equatable {
        /// Clients accepted over the daemon's life.
        public var connections: UInt64
        /// Pushed streams started.
        public var pushes: UInt64
        /// Connections refused or closed by the server, by reason (the protocol's error names, e.g.
        /// "too-many-clients", "not-allowed", "timed-out").
        public var refusals: [String: UInt64]
        /// Live frames dropped for slow readers (`lagged`), over all clients.
        public var laggedFrames: UInt64
        /// 16 kHz samples discarded because the encoder fell behind, over all streams.
        public var overrunSamples: UInt64
        /// Samples capture lost before the encoder saw them, over all live streams.
        public var captureLostSamples: UInt64
        /// Capture devices lost, over all streams.
        public var deviceLosses: UInt64
        /// Seconds of speech, over all streams.
        public var speechSeconds: Double
        /// The most 16 kHz samples' worth one pushed stream has held at once (audio not yet turned into tokens plus
        /// tokens not yet sent), over the daemon's life: the push budget bounds it, whatever the chunks or rate.
        public var pushedPeakSamples: UInt64

        public init(connections: UInt64 = 0, pushes: UInt64 = 0, refusals: [String: UInt64] = [:],
                    laggedFrames: UInt64 = 0, overrunSamples: UInt64 = 0, captureLostSamples: UInt64 = 0,
                    deviceLosses: UInt64 = 0,
                    speechSeconds: Double = 0, pushedPeakSamples: UInt64 = 0) {
            self.connections = connections
            self.pushes = pushes
            self.refusals = refusals
            self.laggedFrames = laggedFrames
            self.overrunSamples = overrunSamples
            self.captureLostSamples = captureLostSamples
            self.deviceLosses = deviceLosses
            self.speechSeconds = speechSeconds
            self.pushedPeakSamples = pushedPeakSamples
        }
    }
}
