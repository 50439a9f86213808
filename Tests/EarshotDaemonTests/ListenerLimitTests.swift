import AudioCore
import EarshotCLI
import Foundation
import LoopbackTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every TCP listener's connection cap and deadlines, and the caps against the file limit, on a live earshotd: a
/// flood of silent connections meets a cap, never EMFILE, so the socket, gRPC and metrics keep serving; connections
/// that never make a request, trickle a header or sit idle are closed. (Issue #19, item 2.)
@Suite(.serialized) struct ListenerLimitTests {
    /// Connects to `port` until something listens (≤ 20 s): the TCP listeners start just after the socket.
    static func waitForListener(_ port: Int) async throws {
        let deadline = Date(timeIntervalSinceNow: 20)
        while true {
            if let fd = LoopbackTCP.connect(port) {
                close(fd)
                return
            }
            guard Date() < deadline else { throw TestFailure("nothing listens on \(port)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Whether the server has closed `fd` — now, without waiting.
    static func closedByServer(_ fd: Int32) -> Bool { LoopbackTCP.closedByServer(fd) }

    /// Waits (≤ `timeout` s) until `count` of `fds` are closed by the server; returns how many are.
    static func waitUntilClosed(_ fds: [Int32], count: Int, timeout: Double = 20) async throws -> Int {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            let closed = fds.filter(closedByServer).count
            if closed >= count || Date() >= deadline { return closed }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The fault: with RLIMIT_NOFILE at 512, 600 idle connections froze the daemon (accept failing with EMFILE, one
    /// event loop spinning). Now 300 silent connections to gRPC under a limit of 256 meet gRPC's cap (64); the rest
    /// are closed as they are accepted, and a socket push and a scrape are served while they are held.
    @Test func silentConnectionsPastTheFileLimitStallNothing() async throws {
        let grpcPort = try LoopbackTCP.freePort(), metricsPort = try LoopbackTCP.freePort()
        let daemon = try Daemon(extra: ["--grpc-address", "127.0.0.1:\(grpcPort)",
                                        "--metrics-address", "127.0.0.1:\(metricsPort)", "--hello-timeout", "120"],
                                fileLimit: 256)
        defer { _ = daemon.terminate() }
        try await Self.waitForListener(grpcPort)
        try await Self.waitForListener(metricsPort)

        var flood: [Int32] = []
        defer { flood.forEach { close($0) } }
        for _ in 0..<300 {
            guard let fd = LoopbackTCP.connect(grpcPort) else { break }
            flood.append(fd)
        }
        #expect(flood.count == 300)
        let closed = try await Self.waitUntilClosed(flood, count: 300 - 64)
        #expect(closed == 300 - 64, "gRPC's cap is 64 connections")

        let socket = daemon.socket, input = Paths.wav("short")
        let pushed = try await withTimeout(60, "a socket push during the flood") {
            try await PushCommand.encode(socket: socket, input: input)
        }
        let again = try await withTimeout(60, "a second push") { try await PushCommand.encode(socket: socket, input: input) }
        #expect(pushed.values.count > 0 && pushed == again)
        let scrape = try MetricsTests.get(port: metricsPort, path: "/metrics")
        #expect(scrape.status.hasSuffix("200 OK"))
        #expect(scrape.body.contains("earshot_"))
        #expect(daemon.log.contains("connection refused: the listener's connection cap is reached"))
        #expect(!daemon.log.contains("Too many open files"), "EMFILE: \(daemon.log.suffix(2000))")
        #expect(Self.closedByServer(flood[0]) == false, "an admitted connection is held until its deadline")
        let stopped = daemon.terminate()
        #expect(stopped?.code == 0, "\(daemon.log.suffix(3000))")
    }

    /// Connections that never make a request, a header sent a line at a time, and a keep-alive connection left
    /// idle are all closed by their deadlines, on each listener; the metrics cap refuses a connection past it while
    /// an established scraper keeps being served.
    @Test func silentSlowAndIdleConnectionsAreClosedOnEveryListener() async throws {
        let grpcPort = try LoopbackTCP.freePort(), healthPort = try LoopbackTCP.freePort()
        let metricsPort = try LoopbackTCP.freePort()
        let daemon = try Daemon(extra: [
            "--grpc-address", "127.0.0.1:\(grpcPort)", "--grpc-health-address", "127.0.0.1:\(healthPort)",
            "--metrics-address", "127.0.0.1:\(metricsPort)", "--metrics-max-connections", "3",
            // Deadlines that a loaded machine's steps fit in: the cap check needs the silent connections still open,
            // the scraper's second request comes well within its idle deadline.
            "--hello-timeout", "3", "--idle-timeout", "6"])
        defer { _ = daemon.terminate() }
        for port in [grpcPort, healthPort, metricsPort] { try await Self.waitForListener(port) }

        // A keep-alive scraper: one request, then it keeps its connection.
        let scraper = try #require(LoopbackTCP.connect(metricsPort))
        defer { close(scraper) }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        #expect(UnixSocket.send(scraper, request))
        let first = try #require(UnixSocket.receive(scraper, timeout: 10))
        #expect(String(decoding: first, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))

        // Silent ones on every listener, and a slowloris on metrics: all three metrics slots are now taken.
        let silent = try [grpcPort, healthPort, metricsPort].map { port in
            try #require(LoopbackTCP.connect(port))
        }
        defer { silent.forEach { close($0) } }
        let slow = try #require(LoopbackTCP.connect(metricsPort))
        defer { close(slow) }
        #expect(UnixSocket.send(slow, Array("GET /metrics HTTP/1.1\r\n".utf8)))
        // The cap: a fourth metrics connection is closed at once, the established scraper is still served.
        let extra = try #require(LoopbackTCP.connect(metricsPort))
        defer { close(extra) }
        #expect(try await Self.waitUntilClosed([extra], count: 1) == 1)
        #expect(UnixSocket.send(scraper, request))
        let again = try #require(UnixSocket.receive(scraper, timeout: 10))
        #expect(String(decoding: again, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))

        // A header line every 200 ms does not count as a request: the slowloris goes at the first-request deadline.
        let trickle = Task {
            while !Task.isCancelled, !Self.closedByServer(slow) {
                _ = UnixSocket.send(slow, Array("X-Slow: yes\r\n".utf8))
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { trickle.cancel() }
        #expect(try await Self.waitUntilClosed(silent + [slow], count: 4) == 4,
                "closed: \((silent + [slow]).map(Self.closedByServer)); \(daemon.log.suffix(3000))")
        trickle.cancel()
        await trickle.value   // no send on `slow` once it is closed below (its number could be reused)
        // The scraper, idle since its last answer, goes at the idle deadline.
        #expect(try await Self.waitUntilClosed([scraper], count: 1) == 1)
        // And the listeners still serve.
        #expect(try MetricsTests.get(port: metricsPort, path: "/metrics").status.hasSuffix("200 OK"))
        #expect(daemon.terminate()?.code == 0)
    }

    /// Caps that do not fit below RLIMIT_NOFILE are refused at start, naming each.
    @Test func capsAboveTheFileLimitAreRefusedByName() throws {
        let metricsPort = try LoopbackTCP.freePort()
        let daemon = try Daemon(extra: ["--max-clients", "200", "--metrics-address", "127.0.0.1:\(metricsPort)"],
                                waitForSocket: false, fileLimit: 256)
        let status = try #require(daemon.process.wait(timeout: 20), "earshotd did not exit")
        #expect(ChildProcess.exitCode(status) == 1)
        #expect(daemon.log.contains("""
            the connection caps need 280 file descriptors (max-clients 200 + metrics-max-connections 16 + reserved 64) \
            but the file limit (RLIMIT_NOFILE) is 256
            """), "\(daemon.log)")
    }

    /// SIGHUP checks the new configuration as a start would: settings the next start would refuse are logged as an
    /// error, and the running configuration is kept. (Issue #19, item 8.)
    @Test func sighupRefusesWhatTheNextStartWouldRefuse() async throws {
        let scratch = ScratchDirectory()
        let socket = scratch.file("d.sock"), config = scratch.file("earshotd.conf")
        try "log-level = info\n".write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(Paths.executable("earshotd"), [
            "--model", Paths.model(), "--source", "none", "--socket", socket, "--precision", "f32", "--config", config,
        ], logPath: scratch.file("earshotd.log"))
        defer { if process.status == nil { process.signal(SIGTERM); _ = process.wait(timeout: 5) } }
        let deadline = Date(timeIntervalSinceNow: 20)
        while !UnixSocket.answers(socket) {
            guard process.status == nil, Date() < deadline else { throw TestFailure("no socket: \(process.log)") }
            try await Task.sleep(for: .milliseconds(10))
        }
        let refused = "SIGHUP: the new configuration would not start; nothing changed, the running one is kept"
        // A non-loopback address without TLS.
        try "grpc-address = 0.0.0.0:50051\n".write(toFile: config, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        try await HardeningTests.waitForLog(process, refused)
        #expect(process.log.contains("is not loopback"))
        #expect(!process.log.contains("takes effect at the next start"))
        // A certificate that does not exist.
        try "grpc-address = 127.0.0.1:50051\ngrpc-tls-cert = \(scratch.file("none.pem"))\ngrpc-tls-key = \(scratch.file("none.key"))\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        try await HardeningTests.waitForLog(process, "--grpc-tls-cert \(scratch.file("none.pem")): cannot load a PEM certificate")
        // A good change is still reported as before.
        try "max-clients = 9\n".write(toFile: config, atomically: true, encoding: .utf8)
        process.signal(SIGHUP)
        try await HardeningTests.waitForLog(process, "restart-needed=maxClients")
        #expect(UnixSocket.answers(socket))
        process.signal(SIGTERM)
        #expect(process.wait(timeout: 5).map(ChildProcess.exitCode) == 0)
    }
}
