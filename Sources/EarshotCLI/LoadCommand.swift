import ArgumentParser
import AudioCore
import AudioFiles
import EarshotClient
import EarshotGRPC
import Foundation

/// `earshot load`: many concurrent pushes of one audio file to a running earshotd, over the socket or gRPC, as fast
/// as the daemon takes them. Reports throughput and token latency, and checks that every push came back bit for bit
/// the same (and equal to `--reference`, e.g. `earshot encode`'s .npy, when given). Exits 1 on any difference.
public struct LoadCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Push one audio file from many concurrent clients; report throughput and latency, and check every "
            + "result.")

    @Option(help: "The daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock).")
    var socket: String?

    @Option(help: ArgumentHelp("Push over gRPC to HOST:PORT instead of the socket (plain text or --tls-ca).",
                               valueName: "HOST:PORT"))
    var grpc: String?

    @Option(help: ArgumentHelp("gRPC TLS: trust this PEM CA for the daemon's certificate.", valueName: "FILE"))
    var tlsCa: String?

    @Option(help: ArgumentHelp("gRPC: a file holding the daemon's bearer token.", valueName: "FILE"))
    var tokenFile: String?

    @Option(help: "Concurrent pushes (each its own connection or call).")
    var clients = 50

    @Option(help: "The audio file every client pushes (any format earshot encode reads; not standard input).")
    var input: String

    @Option(help: "What to push for: embeddings (D wide) or encoder (P wide).")
    var stage: EmbeddingKind = .embeddings

    @Option(help: ArgumentHelp("An .npy every result must equal bit for bit (earshot encode's output).",
                               valueName: "NPY"))
    var reference: String?

    @Flag(help: "Print the figures as one JSON object.")
    var json = false

    public init() {}

    public func validate() throws {
        guard (1...10_000).contains(clients) else { throw ValidationError("--clients must be 1…10000") }
        guard input != "-" else { throw ValidationError("--input must be a file: every client reads it anew") }
    }

    public func run() async throws {
        let report: LoadReport
        do {
            let info = try AudioFileReader(path: input).info
            let expected = try reference.map { try NPY.read(path: $0) }
            let grpcOptions: GRPCClientOptions? = try grpc.map { address in
                var options = try GRPCClientOptions(address: address)
                options.caPath = tlsCa
                options.bearerToken = try tokenFile.map { try BearerTokenInterceptor.readToken(file: $0) }
                return options
            }
            let began = ContinuousClock.now
            let runs = try await withThrowingTaskGroup(of: (PushCommand.Result, PushTimeline).self) { group in
                for _ in 0..<clients {
                    group.addTask { [input, stage, socket] in
                        let timeline = PushTimeline(inputRate: info.sampleRate)
                        let result = if let grpcOptions {
                            try await PushCommand.runOverGRPC(grpcOptions, input: input, stage: stage, speech: false,
                                                              timeline: timeline)
                        } else {
                            try await PushCommand.run(socket: socket, input: input, stage: stage, speech: false,
                                                      timeline: timeline)
                        }
                        return (result, timeline)
                    }
                }
                var all: [(PushCommand.Result, PushTimeline)] = []
                for try await run in group { all.append(run) }
                return all
            }
            let wall = ContinuousClock.now - began
            let first = runs[0].0.tokens
            let identical = runs.allSatisfy { $0.0.tokens == first }
            let matchesReference = expected.map { $0 == first }
            report = LoadReport(transport: grpc == nil ? "socket" : "grpc", clients: clients,
                                audioSeconds: Double(runs[0].1.framesSent) / Double(info.sampleRate), wall: wall,
                                tokensPerPush: first.shape[0], latencies: runs.flatMap { $0.1.latencies },
                                pushDurations: runs.compactMap { $0.1.duration }, identical: identical,
                                matchesReference: matchesReference)
        } catch {
            printError("earshot load: \(error)")
            throw ExitCode.failure
        }
        print(json ? report.json : report.text)
        if !report.identical || report.matchesReference == false {
            printError("earshot load: results differ (identical across pushes: \(report.identical), equal to "
                       + "--reference: \(report.matchesReference.map(String.init) ?? "not given"))")
            throw ExitCode.failure
        }
    }
}

/// What one load run measured.
struct LoadReport {
    let transport: String
    let clients: Int
    let audioSeconds: Double
    let wall: Duration
    let tokensPerPush: Int
    let latencies: [Duration]
    let pushDurations: [Duration]
    let identical: Bool
    let matchesReference: Bool?

    var wallSeconds: Double { Self.seconds(wall) }
    /// Seconds of audio encoded per second of wall time, over every client.
    var throughput: Double { Double(clients) * audioSeconds / wallSeconds }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Nearest-rank percentile of `values`, in milliseconds.
    static func percentile(_ values: [Duration], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = max(0, min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))
        return seconds(sorted[rank]) * 1e3
    }

    var text: String {
        let l = latencies, d = pushDurations
        return [
            "\(transport): \(clients) concurrent pushes of \(String(format: "%.2f", audioSeconds)) s "
                + "(\(tokensPerPush) tokens each) in \(String(format: "%.2f", wallSeconds)) s",
            String(format: "throughput %.1f s of audio per second (%.0f tokens/s)", throughput,
                   Double(clients * tokensPerPush) / wallSeconds),
            String(format: "token latency p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (%d tokens)",
                   Self.percentile(l, 0.5), Self.percentile(l, 0.9), Self.percentile(l, 0.99),
                   Self.percentile(l, 1), l.count),
            String(format: "push duration p50 %.0f ms, max %.0f ms", Self.percentile(d, 0.5), Self.percentile(d, 1)),
            "results identical across pushes: \(identical ? "yes" : "NO")"
                + (matchesReference.map { ", equal to the reference: \($0 ? "yes" : "NO")" } ?? ""),
        ].joined(separator: "\n")
    }

    var json: String {
        let l = latencies
        let fields: [(String, String)] = [
            ("transport", "\"\(transport)\""), ("clients", "\(clients)"),
            ("audioSeconds", String(format: "%.3f", audioSeconds)), ("wallSeconds", String(format: "%.3f", wallSeconds)),
            ("tokensPerPush", "\(tokensPerPush)"), ("throughput", String(format: "%.3f", throughput)),
            ("latencyP50Ms", String(format: "%.1f", Self.percentile(l, 0.5))),
            ("latencyP90Ms", String(format: "%.1f", Self.percentile(l, 0.9))),
            ("latencyP99Ms", String(format: "%.1f", Self.percentile(l, 0.99))),
            ("latencyMaxMs", String(format: "%.1f", Self.percentile(l, 1))),
            ("identical", "\(identical)"),
            ("matchesReference", matchesReference.map { "\($0)" } ?? "null"),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}
