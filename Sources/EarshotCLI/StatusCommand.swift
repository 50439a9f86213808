import ArgumentParser
import EarshotClient
import Foundation

/// `earshot status`: what a running earshotd is doing.
public struct StatusCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running earshotd's model, streams, clients and load.")

    @Option(help: "The daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock).")
    var socket: String?

    @Flag(help: "Print the status object as JSON (docs/protocol.md, \"Status\").")
    var json = false

    public init() {}

    public func run() async throws {
        let (text, latency): (String, Duration)
        do {
            (text, latency) = try await EarshotConnection.withConnection(to: socket, clientName: "earshot status") {
                connection in
                let latency = try await connection.ping()
                return (try await connection.status(), latency)
            }
        } catch {
            printError("earshot status: \(error)")
            throw ExitCode.failure
        }
        if json {
            print(text)
            return
        }
        print(StatusCommand.render(json: text, latency: latency))
    }

    /// A readable summary of the status JSON.
    static func render(json: String, latency: Duration) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            return json
        }
        var lines: [String] = []
        let model = object["model"] as? [String: Any] ?? [:]
        let compute = object["compute"] as? [String: Any] ?? [:]
        lines.append("\(object["server"] ?? "earshotd"), protocol \(object["protocol"] ?? "?"), up "
                     + String(format: "%.0f s", object["uptimeSeconds"] as? Double ?? 0)
                     + String(format: ", ping %.2f ms", Double(latency.components.attoseconds) / 1e15
                              + Double(latency.components.seconds) * 1e3))
        lines.append("model   \(model["id"] ?? "?")  D=\(model["D"] ?? "?") P=\(model["P"] ?? "?") "
                     + "layers=\(model["layers"] ?? "?") block=\(model["blockTokens"] ?? "?") tokens")
        lines.append("clients \(object["clients"] ?? 0) of \(object["maxClients"] ?? "?")")
        let busy = compute["busySeconds"] as? Double ?? 0
        let uptime = max(object["uptimeSeconds"] as? Double ?? 1, 1e-9)
        lines.append("compute \(compute["threads"] ?? "?") thread(s), \(compute["tokensEncoded"] ?? 0) tokens in "
                     + "\(compute["passes"] ?? 0) passes, " + String(format: "%.1f%% busy", 100 * busy / uptime))
        for stream in object["streams"] as? [[String: Any]] ?? [] {
            let seconds = Double(stream["samples"] as? Int ?? 0) / Double(stream["inputRate"] as? Int ?? 16000)
            var line = "stream  \(stream["name"] ?? "?") (\(stream["kind"] ?? "?")"
            if let source = stream["source"] { line += ", \(source)" }
            line += ") \(stream["state"] ?? "?"): " + String(format: "%.1f s", seconds)
                + ", \(stream["tokens"] ?? 0) tokens"
            if let subscribers = stream["subscribers"] { line += ", \(subscribers) subscriber(s)" }
            if let overrun = stream["overrunSamples"] as? Int, overrun > 0 { line += ", \(overrun) samples overrun" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
