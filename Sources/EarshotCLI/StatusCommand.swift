import ArgumentParser
import EarshotClient
import EarshotTypes
import Foundation

/// `earshot status`: what a running earshotd is doing, once, as JSON, or live (`--watch`, which `earshot top` is).
public struct StatusCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running earshotd's model, streams, clients and load.")

    @Option(help: "The daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock).")
    var socket: String?

    @Flag(help: "Print the status object as JSON (docs/protocol.md, \"Status\").")
    var json = false

    @Flag(help: "Refresh once a second until interrupted (what `earshot top` does).")
    var watch = false

    public init() {}

    public func run() async throws {
        try await StatusCommand.show(socket: socket, json: json, watch: watch, command: "earshot status")
    }

    /// `command` ("earshot status" or "earshot top") is the client name the daemon lists this connection under, and
    /// the prefix of an error.
    static func show(socket: String?, json: Bool, watch: Bool, command: String) async throws {
        do {
            try await EarshotConnection.withConnection(to: socket, clientName: command) { connection in
                var previous: DaemonStatus?
                repeat {
                    let latency = try await connection.ping()
                    if json {
                        print(ClientText.escapedJSON(try await connection.status()))
                    } else {
                        let status = try await connection.statusReport()
                        let text = StatusView.render(status, previous: previous, ping: latency)
                        // Home and clear below: the view redraws in place without flicker.
                        print(watch ? "\u{1B}[H\u{1B}[2J" + text : text)
                        fflush(nil)   // a refresh shows at once, on a pipe too (nil: Swift 6 rejects `stdout`)
                        previous = status
                    }
                    if watch { try await Task.sleep(for: .seconds(1)) }
                } while watch
            }
        } catch is CancellationError {
            return
        } catch {
            printError("\(command): \(error)")
            throw ExitCode.failure
        }
    }
}

/// `earshot top`: the live view of `earshot status --watch`.
public struct TopCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "A live view of a running earshotd: streams, clients, latency and load, refreshed once a second.")

    @Option(help: "The daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock).")
    var socket: String?

    public init() {}

    public func run() async throws {
        try await StatusCommand.show(socket: socket, json: false, watch: true, command: "earshot top")
    }
}

/// The status as a terminal table. With the previous status (a second earlier, under `--watch`), rates are shown.
/// Every string from the daemon is printed escaped (``ClientText/escaped(_:)``): client names and push labels are
/// chosen by clients, and must not move the cursor or forge lines on the operator's terminal.
enum StatusView {
    static func render(_ s: DaemonStatus, previous: DaemonStatus?, ping: Duration) -> String {
        var lines: [String] = []
        let pingMs = Double(ping.components.seconds) * 1e3 + Double(ping.components.attoseconds) * 1e-15
        let revision = s.revision.map { " (git \(ClientText.escaped($0)))" } ?? ""
        lines.append("\(ClientText.escaped(s.server))\(revision), protocol \(s.protocol), up \(Self.duration(s.uptimeSeconds)), "
                     + String(format: "ping %.2f ms", pingMs))
        lines.append("model   \(ClientText.escaped(s.model.id))  \(s.model.family) D=\(s.model.D) P=\(s.model.P) "
                     + "layers=\(s.model.layers) block=\(s.model.blockTokens) tokens of \(s.model.samplesPerToken) samples")
        var compute = "compute \(s.compute.threads) thread(s), \(s.compute.tokensEncoded) tokens in "
            + "\(s.compute.passes) passes, " + String(format: "%.1f%% busy, real-time factor %.3f",
                                                       100 * s.compute.utilization, s.compute.realTimeFactor)
        if let previous, s.uptimeSeconds > previous.uptimeSeconds {
            let rate = Double(s.compute.tokensEncoded - previous.compute.tokensEncoded)
                / (s.uptimeSeconds - previous.uptimeSeconds)
            compute += String(format: ", %.0f tokens/s", rate)
        }
        lines.append(compute)
        if s.latency.tokens > 0 {
            lines.append(String(format: "latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (last %d tokens)",
                                s.latency.p50Ms, s.latency.p90Ms, s.latency.p99Ms, s.latency.maxMs, s.latency.tokens))
        }
        lines.append("voice activity " + (s.voiceActivity.on ? "on" : "off"))
        lines.append("")
        lines.append(Self.row(["STREAM", "KIND", "STATE", "AUDIO", "TOKENS", "SUBS", "BACKLOG", "SPEECH", "LOST"]))
        for stream in s.streams {
            let seconds = Double(stream.samples) / Double(max(stream.inputRate, 1))
            let lost = stream.overrunSamples + stream.captureLostSamples
            lines.append(Self.row([stream.name, stream.kind.rawValue, stream.state.rawValue, Self.duration(seconds),
                                   "\(stream.tokens)", stream.subscribers.map(String.init) ?? "-",
                                   String(format: "%.2f s", stream.backlogSeconds),
                                   String(format: "%.1f s", stream.speechSeconds),
                                   lost > 0 ? String(format: "%.2f s", Double(lost) / 16_000) : "0"]))
        }
        lines.append("")
        lines.append("clients \(s.clients) of \(s.maxClients)")
        if !s.connections.isEmpty {
            let widths = [5, 8, 24, 6, 8, 8, 9]
            lines.append(Self.row(["ID", "VIA", "CLIENT", "SUBS", "PUSHES", "QUEUED", "DROPPED", "PEER"], widths: widths))
            for c in s.connections {
                lines.append(Self.row(["\(c.id)", c.transport.rawValue, c.name.isEmpty ? "-" : c.name,
                                       "\(c.subscriptions)", "\(c.pushes)", "\(c.queuedFrames)", "\(c.droppedFrames)",
                                       c.peer], widths: widths))
            }
        }
        let refusals = s.totals.refusals.sorted { $0.key < $1.key }.map { "\(ClientText.escaped($0.key)) \($0.value)" }
        lines.append("totals  \(s.totals.connections) connections, \(s.totals.pushes) pushes, "
                     + "\(s.totals.laggedFrames) lagged frames, \(s.totals.deviceLosses) device losses"
                     + (refusals.isEmpty ? "" : ", refused: " + refusals.joined(separator: ", ")))
        return lines.joined(separator: "\n")
    }

    /// Columns padded to `widths` (the last one free), each cell escaped.
    static func row(_ cells: [String], widths: [Int] = [16, 7, 12, 10, 8, 6, 9, 9, 8]) -> String {
        cells.map(ClientText.escaped).enumerated().map { i, cell in
            i < cells.count - 1 && i < widths.count ? cell.padding(toLength: max(widths[i], cell.count + 1),
                                                                    withPad: " ", startingAt: 0) : cell
        }.joined()
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        if s < 60 { return String(format: "%.1f s", seconds) }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}
