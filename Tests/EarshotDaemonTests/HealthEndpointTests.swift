import ConnectionAdmission
import EarshotClient
import EarshotServer
import Foundation
import Logging
import LoopbackTestSupport
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing
import WireProtocol
@testable import EarshotDaemon
#if canImport(Glibc)
import Glibc
#endif

/// Issue #22, item 5: `/healthz` and `/readyz` on the metrics listener. In process, a `MetricsServer` with the
/// daemon's own readiness in a `ServiceGroup` ordered as the daemon orders it, its listeners held open by the test:
/// every answer, and `draining` from the stop's start while the listeners still drain. Then a live daemon: alive and
/// ready once it serves, and `draining` while a stuck client holds its drain open.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct HealthEndpointTests {
    static let unhealthy = "unhealthy: work has waited over 10 s for a compute thread\n"

    /// Stands in for the daemon's listeners: starts listening when the test opens the gate, says when its stop
    /// begins, and holds its drain open until the test opens the gate again.
    private struct HeldListeners: Service {
        enum Event { case listening, draining }
        let readiness: DaemonReadiness
        let gate: AsyncStream<Void>
        let events: AsyncStream<Event>.Continuation

        func run() async throws {
            var gate = self.gate.makeAsyncIterator()
            _ = await gate.next()
            readiness.listening()
            events.yield(.listening)
            try? await gracefulShutdown()
            events.yield(.draining)
            _ = await gate.next()
        }
    }

    private final class HealthFlag: Sendable {
        private let value = Atomic(true)
        var isHealthy: Bool { value.load(ordering: .relaxed) }
        func set(_ healthy: Bool) { value.store(healthy, ordering: .relaxed) }
    }

    @Test func everyAnswerAndDrainingFromTheStopsStartInProcess() async throws {
        let health = HealthFlag()
        let readiness = DaemonReadiness { health.isHealthy }
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let (gate, opener) = AsyncStream.makeStream(of: Void.self)
        let (events, eventSink) = AsyncStream.makeStream(of: HeldListeners.Event.self)
        let quiet = Logger(label: "health test") { _ in SwiftLogNoOpLogHandler() }
        let server = MetricsServer(
            host: "127.0.0.1", port: 0,
            limits: AdmissionLimits(maxConnections: 4, firstRequestTimeout: .seconds(30), idleTimeout: .seconds(30)),
            metrics: StatusMetrics(), logger: quiet,
            status: { StatusViewTests().status(uptime: 11, tokens: 275) },
            readiness: { readiness.current },
            onListening: { portSink.yield($0.port ?? 0) })
        // The daemon's order: metrics before the listeners, the stop notice last.
        let group = ServiceGroup(configuration: .init(services: [
            .init(service: server),
            .init(service: HeldListeners(readiness: readiness, gate: gate, events: eventSink)),
            .init(service: readiness.stopNotice),
        ], logger: quiet))

        try await withThrowingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            var portIterator = ports.makeAsyncIterator()
            let port = try #require(await portIterator.next())
            var eventIterator = events.makeAsyncIterator()
            func request(_ method: String, _ path: String) throws
                -> (status: String, headers: [String: String], body: String) {
                try MetricsTests.request(port: port, method: method, path: path)
            }

            // Up, but the listeners are not: alive, not ready.
            #expect(try request("GET", "/healthz").body == "ok\n")
            let starting = try request("GET", "/readyz")
            #expect(starting.status == "HTTP/1.0 503 Service Unavailable" && starting.body == "starting\n")

            opener.yield()
            #expect(await eventIterator.next() == .listening)
            let healthz = try request("GET", "/healthz")
            #expect(healthz.status == "HTTP/1.0 200 OK" && healthz.body == "ok\n")
            #expect(healthz.headers["content-type"] == "text/plain; charset=utf-8")
            let ready = try request("GET", "/readyz")
            #expect(ready.status == "HTTP/1.0 200 OK" && ready.body == "ready\n")

            // The compute threads fall behind, then catch up.
            health.set(false)
            let wedged = try request("GET", "/readyz")
            #expect(wedged.status == "HTTP/1.0 503 Service Unavailable" && wedged.body == Self.unhealthy)
            #expect(try request("GET", "/healthz").status == "HTTP/1.0 200 OK")
            health.set(true)
            #expect(try request("GET", "/readyz").body == "ready\n")

            // HEAD: GET's status and length, no body. Other methods: 405 with Allow. Other paths: 404, any method.
            let head = try request("HEAD", "/readyz")
            #expect(head.status == "HTTP/1.0 200 OK" && head.headers["content-length"] == "6" && head.body.isEmpty)
            let headMetrics = try request("HEAD", "/metrics")
            #expect(headMetrics.status == "HTTP/1.0 200 OK" && headMetrics.body.isEmpty)
            #expect(Int(headMetrics.headers["content-length"] ?? "") ?? 0 > 1000)
            for path in ["/healthz", "/readyz", "/metrics"] {
                let post = try request("POST", path)
                #expect(post.status == "HTTP/1.0 405 Method Not Allowed", "POST \(path)")
                #expect(post.headers["allow"] == "GET, HEAD", "POST \(path)")
                #expect(post.body == "\(path) answers GET and HEAD only\n")
            }
            #expect(try request("DELETE", "/readyz").headers["allow"] == "GET, HEAD")
            for (method, path) in [("GET", "/"), ("GET", "/ready"), ("POST", "/nope"), ("HEAD", "/healthz/x")] {
                let missing = try request(method, path)
                #expect(missing.status == "HTTP/1.0 404 Not Found", "\(method) \(path)")
            }
            #expect(try request("GET", "/nope").body == "earshotd serves /metrics, /healthz, /readyz only\n")
            // A query string does not change the path.
            #expect(try request("GET", "/readyz?verbose=1").body == "ready\n")

            // The stop: the stop notice hears it first, so by the time the listeners hear theirs /readyz says
            // `draining`; the listener still serves until they have drained.
            await group.triggerGracefulShutdown()
            #expect(await eventIterator.next() == .draining)
            let draining = try request("GET", "/readyz")
            #expect(draining.status == "HTTP/1.0 503 Service Unavailable" && draining.body == "draining\n")
            let headDraining = try request("HEAD", "/readyz")
            #expect(headDraining.status == "HTTP/1.0 503 Service Unavailable" && headDraining.body.isEmpty)
            #expect(headDraining.headers["content-length"] == "9")
            // A stop outranks a health failure.
            health.set(false)
            #expect(try request("GET", "/readyz").body == "draining\n")
            #expect(try request("GET", "/healthz").body == "ok\n")
            let scrape = try request("GET", "/metrics")
            #expect(scrape.status == "HTTP/1.0 200 OK" && scrape.body.contains("earshot_tokens_encoded_total 275"))

            // The listeners drained: the group, the metrics server with it, returns. (Whether the port then refuses
            // is not checked: a test running alongside may have been given the freed port.)
            opener.yield()
            try await tasks.waitForAll()
        }
    }

    @Test func readinessSaysWhyInOrderOfPrecedence() {
        let health = HealthFlag()
        let readiness = DaemonReadiness { health.isHealthy }
        health.set(false)
        #expect(readiness.current == .notReady(reason: "starting"))
        readiness.listening()
        #expect(readiness.current == .notReady(reason: String(Self.unhealthy.dropLast())))
        health.set(true)
        #expect(readiness.current == .ready)
        readiness.draining()
        #expect(readiness.current == .notReady(reason: "draining"))
        health.set(false)
        #expect(readiness.current == .notReady(reason: "draining"))
    }

    // MARK: A live daemon

    /// GET /readyz until it stops saying `starting` (the socket answers a moment before the daemon records that it
    /// listens), at most 20 s.
    static func readyzOnceStarted(port: Int) async throws -> (status: String, headers: [String: String], body: String) {
        try await ListenerLimitTests.waitForListener(port)
        let deadline = Date(timeIntervalSinceNow: 20)
        while true {
            let answer = try MetricsTests.request(port: port, method: "GET", path: "/readyz")
            guard answer.body == "starting\n" else { return answer }
            guard Date() < deadline else { throw TestFailure("/readyz still says starting after 20 s") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func aLiveDaemonIsAliveAndReady() async throws {
        let port = try LoopbackTCP.freePort()
        let daemon = try Daemon(extra: ["--metrics-address", "127.0.0.1:\(port)"])
        defer { _ = daemon.terminate() }
        let ready = try await Self.readyzOnceStarted(port: port)
        #expect(ready.status == "HTTP/1.0 200 OK" && ready.body == "ready\n", "\(daemon.log)")
        let alive = try MetricsTests.request(port: port, method: "GET", path: "/healthz")
        #expect(alive.status == "HTTP/1.0 200 OK" && alive.body == "ok\n")
        let head = try MetricsTests.request(port: port, method: "HEAD", path: "/healthz")
        #expect(head.status == "HTTP/1.0 200 OK" && head.headers["content-length"] == "3" && head.body.isEmpty)
        let post = try MetricsTests.request(port: port, method: "POST", path: "/readyz")
        #expect(post.status == "HTTP/1.0 405 Method Not Allowed" && post.headers["allow"] == "GET, HEAD")
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// The daemon's own service order: a subscriber that never reads holds the socket server's drain open (its
    /// queue cannot flush; the connection is closed after the 1 s drain timeout). Once the socket refuses new
    /// connections (its drain has begun), /readyz still answers, `draining`: the readiness flipped when the stop
    /// began, and the metrics listener closes only after the listeners have drained.
    @Test func aStoppingDaemonAnswersDrainingWhileItsClientsDrain() async throws {
        let port = try LoopbackTCP.freePort()
        let daemon = try Daemon(source: "file:\(Paths.wav("long24bit"))?loop", config: "send-buffer-bytes = 4096\n",
                                extra: ["--metrics-address", "127.0.0.1:\(port)"])
        defer { _ = daemon.terminate() }
        #expect(try await Self.readyzOnceStarted(port: port).body == "ready\n", "\(daemon.log)")

        let stuck = try RawClient(daemon.socket)
        _ = try stuck.handshake()
        stuck.send(.subscribe(Subscribe(request: 1, stream: "mic", start: .oldest)))
        // Stuck for sure: frames wait in its queue, the socket's buffers being full.
        let socket = daemon.socket
        try await withTimeout(60, "the stuck client's queue") {
            try await EarshotConnection.withConnection(to: socket, clientName: "health test") { connection in
                while try await connection.statusReport().connections
                    .first(where: { $0.name == "raw test client" }).map({ $0.queuedFrames > 0 }) != true {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }

        daemon.process.signal(SIGTERM)
        // The socket server's drain has begun once its socket refuses connections.
        let deadline = Date(timeIntervalSinceNow: 10)
        while UnixSocket.answers(socket) {
            guard Date() < deadline else { throw TestFailure("the socket still accepts 10 s after SIGTERM") }
            try await Task.sleep(for: .milliseconds(5))
        }
        // Still served (the listener would be closed already if it stopped before the listeners), and draining.
        let draining = try MetricsTests.request(port: port, method: "GET", path: "/readyz")
        #expect(draining.status == "HTTP/1.0 503 Service Unavailable" && draining.body == "draining\n")
        // A scrape during the drain sees the client being drained.
        let scrape = MetricsTests.samples(try MetricsTests.get(port: port, path: "/metrics").body)
        #expect((scrape["earshot_clients{transport=\"socket\"}"] ?? 0) >= 1, "\(scrape)")
        #expect(daemon.process.wait(timeout: 10).map(ChildProcess.exitCode) == 0, "\(daemon.log)")
        _ = stuck
    }
}
