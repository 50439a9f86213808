import AudioCore
import BuildInfo
import EarshotClient
import Foundation
import LoopbackTestSupport
import Testing

/// `--metrics-address`: a live daemon's Prometheus endpoint, validated by `promtool check metrics` and read against
/// the daemon's own status.
@Suite(.serialized) struct MetricsTests {
    /// A TCP port nobody listens on right now.
    static func freePort() throws -> Int { try LoopbackTCP.freePort() }

    /// One HTTP/1.0 GET on loopback: the status line and the body.
    static func get(port: Int, path: String) throws -> (status: String, body: String) {
        let response = try request(port: port, method: "GET", path: path)
        return (response.status, response.body)
    }

    /// One HTTP/1.0 request on loopback (the server closes after it): the status line, the headers (names in lower
    /// case) and the body (everything after the header, to the end of the connection).
    static func request(port: Int, method: String, path: String) throws
        -> (status: String, headers: [String: String], body: String) {
        guard let fd = LoopbackTCP.connect(port) else {
            throw TestFailure("cannot connect to 127.0.0.1:\(port): errno \(errno)")
        }
        defer { close(fd) }
        guard UnixSocket.send(fd, Array("\(method) \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)) else {
            throw TestFailure("cannot send the request")
        }
        var response: [UInt8] = []
        while let chunk = UnixSocket.receive(fd, timeout: 5), !chunk.isEmpty { response += chunk }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("not an HTTP response: \(text)") }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (lines[0], headers, String(text[split.upperBound...]))
    }

    /// Samples of the exposition: "name{labels}" → value.
    static func samples(_ exposition: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    static var promtool: String? {
        findExecutable("promtool")
            ?? [NSHomeDirectory() + "/.cache/earshot-tools/promtool/usr/bin/promtool"]
                .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func aLiveDaemonsMetricsPassPromtoolAndAgreeWithItsStatus() async throws {
        let port = try Self.freePort()
        let daemon = try Daemon(source: "mic=file:\(Paths.wav("speech"))",
                                extra: ["--metrics-address", "127.0.0.1:\(port)"])
        defer { _ = daemon.terminate() }
        let socket = daemon.socket
        let audio = try WAV.read(path: Paths.wav("short")).samples
        // A push (its tokens give latency figures) and the live file stream played out.
        let status: DaemonStatus = try await withTimeout(60, "the push and the file") {
            try await EarshotConnection.withConnection(to: socket, clientName: "metrics test") { connection in
                let push = try await connection.startPush(sampleRate: 16_000)
                try await connection.push(audio, to: push)
                try await connection.endPush(push)
                for try await message in connection.messages {
                    if case .event(let e) = message, e.stream == push.id, e.kind == .ended { break }
                }
                while true {
                    let status = try await connection.statusReport()
                    if status.streams.first(where: { $0.name == "mic" })?.state == .ended { return status }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        let scrape = try Self.get(port: port, path: "/metrics")
        #expect(scrape.status == "HTTP/1.0 200 OK")

        // promtool: the exposition parses and passes Prometheus' lint (names, units, help text, counters).
        if let promtool = Self.promtool {
            let input = daemon.scratch.file("metrics.txt")
            try scrape.body.write(toFile: input, atomically: true, encoding: .utf8)
            let check = try ChildProcess("/bin/sh", ["-c", "\(promtool) check metrics < \(input)"],
                                         logPath: daemon.scratch.file("promtool.log"))
            let code = check.wait(timeout: 30).map(ChildProcess.exitCode)
            #expect(code == 0, "promtool check metrics: \(check.log)")
        } else {
            print("MetricsTests: promtool not found (Debian's prometheus package; scripts/install-deps.sh installs it): "
                  + "the exposition was not linted")
        }

        let values = Self.samples(scrape.body)
        #expect(values["earshot_tokens_encoded_total"] == Double(status.compute.tokensEncoded))
        #expect(values["earshot_encoder_passes_total"] == Double(status.compute.passes))
        #expect(values["earshot_live_stream_tokens_total{stream=\"mic\"}"]
                == Double(status.streams.first { $0.name == "mic" }?.tokens ?? 0))
        #expect(values["earshot_live_stream_up{stream=\"mic\"}"] == 0)   // the file has ended
        #expect(values["earshot_pushes_total"] == 1)
        #expect(values["earshot_build_info{version=\"\(BuildInfo.version)\",revision=\"\(BuildInfo.revision)\"}"] == 1)
        #expect(status.version == BuildInfo.version && status.revision == BuildInfo.revision)
        // The harness's readiness probe connected too.
        #expect(values["earshot_connections_total"] == Double(status.totals.connections))
        #expect(values["earshot_streams{kind=\"live\"}"] == 1)
        #expect((values["earshot_token_latency_seconds_count"] ?? 0) >= Double(status.latency.tokens) - 1)
        #expect((values["earshot_encoder_pass_duration_seconds_count"] ?? 0) == Double(status.compute.passes))
        #expect(scrape.body.contains("# HELP earshot_realtime_factor "))
        #expect(scrape.body.contains("# TYPE earshot_token_latency_seconds histogram"))

        // A second scrape does not count anything twice.
        let again = Self.samples(try Self.get(port: port, path: "/metrics").body)
        #expect(again["earshot_tokens_encoded_total"] == values["earshot_tokens_encoded_total"])
        #expect(again["earshot_pushes_total"] == 1)

        #expect(try Self.get(port: port, path: "/").status == "HTTP/1.0 404 Not Found")
    }

    /// The fenced block of `language` that follows `heading` in a doc.
    static func block(_ doc: String, after heading: String, language: String) throws -> String {
        let text = try String(contentsOfFile: "\(Paths.root)/docs/\(doc)", encoding: .utf8)
        guard let h = text.range(of: heading), let open = text.range(of: "```\(language)\n", range: h.upperBound..<text.endIndex),
              let close = text.range(of: "```", range: open.upperBound..<text.endIndex) else {
            throw TestFailure("docs/\(doc) has no ```\(language) block after '\(heading)'")
        }
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// docs/protocol.md's example status is a DaemonStatus, and docs/operations.md's alert rules load in Prometheus.
    @Test func theDocumentedStatusAndAlertRulesAreValid() throws {
        let json = try Self.block("protocol.md", after: "## Status", language: "json")
        let status = try JSONDecoder().decode(DaemonStatus.self, from: Data(json.utf8))
        #expect(status.model.D == 1536 && status.streams.first?.name == "mic")
        #expect(status.version == "0.3.0" && status.revision == "1a2b3c4d")
        // A status from a daemon before 0.3.0 (no version or revision) still decodes.
        var old = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        old["version"] = nil
        old["revision"] = nil
        let decoded = try JSONDecoder().decode(DaemonStatus.self,
                                               from: try JSONSerialization.data(withJSONObject: old))
        #expect(decoded.version == nil && decoded.revision == nil && decoded.server == status.server)
        guard let promtool = Self.promtool else {
            print("MetricsTests: promtool not found: docs/operations.md's alert rules were not checked")
            return
        }
        let scratch = ScratchDirectory()
        let rules = scratch.file("rules.yml")
        try Self.block("operations.md", after: "### Alert rules", language: "yaml")
            .write(toFile: rules, atomically: true, encoding: .utf8)
        let check = try ChildProcess(promtool, ["check", "rules", rules], logPath: scratch.file("promtool.log"))
        #expect(check.wait(timeout: 30).map(ChildProcess.exitCode) == 0, "promtool check rules: \(check.log)")
    }

    @Test func aBadMetricsAddressIsRefusedByName() throws {
        let daemon = try Daemon(extra: ["--metrics-address", "localhost:http"], waitForSocket: false)
        let code = daemon.process.wait(timeout: 20).map(ChildProcess.exitCode)
        #expect(code != nil && code != 0)
        #expect(daemon.log.contains("--metrics-address 'localhost:http': the port must be 0…65535"))
    }
}
