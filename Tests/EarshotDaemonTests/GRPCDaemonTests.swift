import AudioCore
import EarshotClient
import EarshotGRPC
import Foundation
import GRPCCore
import LoopbackTestSupport
import Testing

/// earshotd with `--grpc-address`: the gRPC service on the real engine. Pushed audio comes back bit for bit as
/// `earshot encode` and the socket give it, a live stream's tokens as the offline encoder's, and gRPC calls and
/// socket clients share one client limit.
@Suite(.serialized) struct GRPCDaemonTests {
    /// Runs `earshot` with `arguments`; fails the test with its log if it does not exit 0 within 60 s.
    static func earshot(_ arguments: [String], in scratch: ScratchDirectory, _ name: String) throws {
        let run = try ChildProcess(Paths.executable("earshot"), arguments, logPath: scratch.file("\(name).log"))
        guard let raw = run.wait(timeout: 60), ChildProcess.exitCode(raw) == 0 else {
            throw TestFailure("earshot \(arguments.joined(separator: " ")): \(run.log)")
        }
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`.
    static func waitForListener(_ port: Int, daemon: Daemon) throws {
        let deadline = Date(timeIntervalSinceNow: 20)
        while !Self.accepts(port) {
            if daemon.process.status != nil { throw TestFailure("earshotd exited: \(daemon.log)") }
            guard Date() < deadline else { throw TestFailure("nothing listens on \(port): \(daemon.log)") }
            usleep(20_000)
        }
    }

    /// True if a TCP connection to 127.0.0.1:`port` is accepted.
    static func accepts(_ port: Int) -> Bool {
        guard let fd = LoopbackTCP.connect(port) else { return false }
        close(fd)
        return true
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func pushOverGRPCWritesTheBytesOfEncodeAndOfTheSocket() throws {
        let port = try MetricsTests.freePort()
        let daemon = try Daemon(extra: ["--grpc-address", "127.0.0.1:\(port)"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        let s = daemon.scratch
        // 44.1 kHz stereo: resampled and downmixed in the daemon, as `earshot encode` does it offline.
        let input = Paths.wav("stereo44k")
        try Self.earshot(["encode", "--model", Paths.model(), "--input", input, "--output", s.file("encode.npy"),
                          "--precision", "f32"], in: s, "encode")
        try Self.earshot(["push", "--grpc", "127.0.0.1:\(port)", "--input", input, "--output", s.file("grpc.npy")],
                         in: s, "push-grpc")
        try Self.earshot(["push", "--socket", daemon.socket, "--input", input, "--output", s.file("socket.npy")],
                         in: s, "push-socket")
        let offline = try Self.bytes(s.file("encode.npy"))
        #expect(try Self.bytes(s.file("grpc.npy")) == offline)
        #expect(try Self.bytes(s.file("socket.npy")) == offline)
        // The encoder output too.
        try Self.earshot(["encode", "--model", Paths.model(), "--input", input, "--output", s.file("encode-p.npy"),
                          "--stage", "encoder", "--precision", "f32"], in: s, "encode-p")
        try Self.earshot(["push", "--grpc", "127.0.0.1:\(port)", "--input", input, "--output", s.file("grpc-p.npy"),
                          "--stage", "encoder"], in: s, "push-grpc-p")
        #expect(try Self.bytes(s.file("grpc-p.npy")) == Self.bytes(s.file("encode-p.npy")))
    }

    /// `earshot push --grpc --token-file` against a daemon that wants a bearer token: the command reads the token
    /// from its file and gets encode's bytes; without the token it fails; --token-file without --grpc is refused.
    @Test func pushWithTheTokenFileWritesTheBytesOfEncode() throws {
        let port = try MetricsTests.freePort()
        let secrets = ScratchDirectory()
        let token = secrets.file("token")
        try "pass-word\n".write(toFile: token, atomically: true, encoding: .utf8)
        let daemon = try Daemon(extra: ["--grpc-address", "127.0.0.1:\(port)", "--grpc-token-file", token])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        let s = daemon.scratch
        let input = Paths.wav("short")
        try Self.earshot(["encode", "--model", Paths.model(), "--input", input, "--output", s.file("encode.npy"),
                          "--precision", "f32"], in: s, "encode")
        try Self.earshot(["push", "--grpc", "127.0.0.1:\(port)", "--token-file", token, "--input", input,
                          "--output", s.file("grpc.npy")], in: s, "push-grpc")
        #expect(try Self.bytes(s.file("grpc.npy")) == Self.bytes(s.file("encode.npy")))

        func exitCode(_ arguments: [String], _ name: String) throws -> (Int32?, String) {
            let run = try ChildProcess(Paths.executable("earshot"), arguments, logPath: s.file("\(name).log"))
            return (run.wait(timeout: 60).map(ChildProcess.exitCode), run.log)
        }
        let (untokened, _) = try exitCode(["push", "--grpc", "127.0.0.1:\(port)", "--input", input,
                                          "--output", s.file("refused.npy")], "refused")
        #expect(untokened == 1)
        #expect(!FileManager.default.fileExists(atPath: s.file("refused.npy")))
        let (socketOnly, log) = try exitCode(["push", "--token-file", token, "--input", input, "--output",
                                              s.file("x.npy")], "no-grpc")
        #expect(socketOnly == 64)
        #expect(log.contains("--token-file go with --grpc"))
    }

    /// The bounded loopback load test: 50 concurrent pushes over each transport, every result bit for bit
    /// `earshot encode`'s (the command exits 1 otherwise). Figures at real size: docs/grpc.md, "Load".
    @Test func fiftyConcurrentPushesOverEachTransportAllEqualTheOfflineEncoding() throws {
        let port = try MetricsTests.freePort()
        let daemon = try Daemon(extra: ["--grpc-address", "127.0.0.1:\(port)", "--max-clients", "64"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        let s = daemon.scratch
        let input = Paths.wav("speech")
        try Self.earshot(["encode", "--model", Paths.model(), "--input", input, "--output", s.file("encode.npy"),
                          "--precision", "f32"], in: s, "encode")
        for transport in [["--socket", daemon.socket], ["--grpc", "127.0.0.1:\(port)"]] {
            try Self.earshot(["load", "--clients", "50", "--input", input, "--reference", s.file("encode.npy"),
                              "--json"] + transport, in: s, "load-\(transport[0].dropFirst(2))")
            let report = try String(contentsOfFile: s.file("load-\(transport[0].dropFirst(2)).log"), encoding: .utf8)
            #expect(report.contains("\"identical\": true") && report.contains("\"matchesReference\": true"), "\(report)")
        }
    }

    /// examples/python/grpc_push.py against a live earshotd (CI installs grpcio: scripts/install-deps.sh).
    @Test func thePythonGRPCExampleWritesTheBytesOfEncode() throws {
        guard (try? ChildProcess("/usr/bin/env", ["python3", "-c", "import grpc, numpy, google.protobuf"],
                                 logPath: "/dev/null").wait(timeout: 30)).flatMap({ $0 }).map(ChildProcess.exitCode) == 0
        else {
            print("GRPCDaemonTests: python3 cannot import grpc, numpy and protobuf (pip install './clients/python[grpc]'): "
                  + "the Python gRPC example was not run")
            return
        }
        let port = try MetricsTests.freePort()
        let daemon = try Daemon(extra: ["--grpc-address", "127.0.0.1:\(port)"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        let s = daemon.scratch
        let input = Paths.wav("speech")
        try Self.earshot(["encode", "--model", Paths.model(), "--input", input, "--output", s.file("encode.npy"),
                          "--precision", "f32"], in: s, "encode")
        let python = try ChildProcess("/usr/bin/env", [
            "python3", "\(Paths.root)/examples/python/grpc_push.py", "--grpc", "127.0.0.1:\(port)",
            "--input", input, "--output", s.file("python.npy")], logPath: s.file("python.log"))
        let code = python.wait(timeout: 60).map(ChildProcess.exitCode)
        #expect(code == 0, "grpc_push.py: \(python.log)")
        #expect(try Self.bytes(s.file("python.npy")) == Self.bytes(s.file("encode.npy")))
    }

    @Test func aLiveStreamSubscribedOverGRPCIsTheOfflineEncoding() async throws {
        let port = try MetricsTests.freePort()
        let daemon = try Daemon(source: "mic=file:\(Paths.wav("speech"))",
                                extra: ["--grpc-address", "127.0.0.1:\(port)", "--history-seconds", "60"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        let offline = try NPYFromEncode(daemon.scratch)
        let tokens: [[UInt8]] = try await withTimeout(60, "the gRPC subscription") {
            try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) { earshot, _ in
                try await earshot.subscribe(.with {
                    $0.stream = "mic"
                    $0.start = .startOldest
                }) { response in
                    var values: [[UInt8]] = []
                    for try await message in response.messages {
                        if case .token(let t) = message.response { values.append([UInt8](t.values)) }
                        if case .event(let e) = message.response, e.kind == .ended { break }
                    }
                    return values
                }
            }
        }
        // f32 payloads are the token's floats, little-endian: the offline .npy's rows.
        #expect(tokens.count == offline.count)
        #expect(tokens == offline)
    }

    /// gRPC subscribers that stop reading are skipped by the stream's hub, as socket ones are: a reader gets every
    /// token on time and capture loses nothing; each stalled call, once it reads, gets what its queue held, then a
    /// `lagged` event counting exactly what it lost, the newest tokens, and `ended`.
    @Test func gRPCSubscribersThatStopReadingAreSkippedAndToldWhatTheyLost() async throws {
        let scratch = ScratchDirectory()
        let speech = try WAV.read(path: Paths.wav("speech"))
        let long = scratch.file("long.wav")
        try WAV.write(path: long, samples: Array([[Float]](repeating: speech.samples, count: 4).joined()),
                      sampleRate: 16_000, channels: 1)
        let port = try MetricsTests.freePort()
        let daemon = try Daemon(source: "mic=file:\(long)", config: "send-queue-frames = 16\n",
                                extra: ["--grpc-address", "127.0.0.1:\(port)"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        var options = GRPCClientOptions(host: "127.0.0.1", port: port)
        options.receiveWindowBytes = 65_535       // HTTP/2's initial window: a caller that does not read stalls soon
        let stalledOptions = options
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let socket = daemon.socket
        let (reader, stalled) = try await withTimeout(60, "the subscribers") {
            try await withThrowingTaskGroup(of: [String]?.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await withEarshotClient(stalledOptions) { earshot, _ in
                            try await earshot.subscribe(.with {
                                $0.stream = "mic"
                                $0.start = .startOldest
                            }) { response in
                                for await _ in gate {}            // reads nothing until the reader is done
                                var seen: [String] = []
                                for try await message in response.messages {
                                    switch message.response {
                                    case .token(let t): seen.append("\(t.index)")
                                    case .event(let e) where e.kind == .lagged:
                                        // The hub's notice (it skipped the call), not a queue's drop marker.
                                        #expect(e.message == "you read too slowly: \(e.count) frames dropped")
                                        seen.append("lagged \(e.count)@\(e.at)")
                                    case .event(let e) where e.kind == .ended: return seen
                                    default: break
                                    }
                                }
                                return seen
                            }
                        }
                    }
                }
                let reader = try await EarshotConnection.withConnection(to: socket) { connection in
                    let sub = try await connection.subscribe(to: "mic", from: .oldest)
                    return try await DaemonIntegrationTests.collect(connection, sub)
                }
                open.finish()
                var stalled: [[String]] = []
                for try await seen in group { if let seen { stalled.append(seen) } }
                return (reader, stalled)
            }
        }
        #expect(reader.count == 300)    // 4 × 3 s, 640 samples a token
        let status = try await EarshotConnection.withConnection(to: socket) { try await $0.statusReport() }
        #expect(status.totals.overrunSamples == 0 && status.totals.captureLostSamples == 0)
        #expect(stalled.count == 3)
        for seen in stalled {
            var next: UInt64 = 0, lost: UInt64 = 0, tokens = 0, lagged = 0
            for entry in seen {
                if entry.hasPrefix("lagged ") {
                    let parts = entry.dropFirst(7).split(separator: "@")
                    let count = UInt64(parts[0])!, at = UInt64(parts[1])!
                    #expect(at == next, "lagged names the first lost token: \(seen)")
                    lost += count
                    next += count
                    lagged += 1
                } else {
                    #expect(UInt64(entry) == next, "a gap without a lagged event: \(seen)")
                    next += 1
                    tokens += 1
                }
            }
            #expect(lagged >= 1 && lost > 0, "a call that read nothing for 12 s lost tokens: \(seen)")
            #expect(UInt64(tokens) + lost == 300)
            #expect(seen.last == "299", "the newest tokens are kept")
        }
        #expect(daemon.terminate()?.code == 0)
    }

    /// `--grpc-health-address`: a plain-text listener that answers health checks (what Kubernetes probes use) and
    /// nothing else, while the service itself needs a bearer token.
    @Test func aHealthOnlyListenerAnswersProbesAndNothingElse() async throws {
        let port = try MetricsTests.freePort(), healthPort = try MetricsTests.freePort()
        let scratch = ScratchDirectory()
        try "s3cret\n".write(toFile: scratch.file("token"), atomically: true, encoding: .utf8)
        let daemon = try Daemon(extra: ["--grpc-address", "127.0.0.1:\(port)", "--grpc-token-file", scratch.file("token"),
                                        "--grpc-health-address", "127.0.0.1:\(healthPort)"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(healthPort, daemon: daemon)
        try await withTimeout(30, "the health listener") {
            try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: healthPort)) { earshot, health in
                for service in ["", "earshot.v1.Earshot"] {
                    let answer = try await health.check(.with { $0.service = service })
                    #expect(answer.status == .serving, "health of '\(service)'")
                }
                // Only health is served here: the Earshot service is not.
                await #expect(throws: RPCError.self) { _ = try await earshot.status(.init()) }
            }
            // The main listener wants the token (health checks excepted).
            try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) { earshot, health in
                #expect(try await health.check(.with { $0.service = "" }).status == .serving)
                do {
                    _ = try await earshot.status(.init())
                    Issue.record("Status without the token was answered")
                } catch let error as RPCError {
                    #expect(error.code == .unauthenticated)
                }
            }
        }
    }

    /// Connects as "holder" and runs `body`; refused with too-many-clients while earlier connections (the harness's
    /// readiness probes) are still leaving, it tries again (for up to 10 s).
    static func admitted(to socket: String, _ body: @escaping @Sendable (EarshotConnection) async throws -> Void)
        async throws {
        let deadline = Date(timeIntervalSinceNow: 10)
        while true {
            do {
                return try await EarshotConnection.withConnection(to: socket, clientName: "holder", body)
            } catch let error as EarshotError where error.serverCode == "too-many-clients" && Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test func socketClientsAndGRPCCallsShareOneClientLimit() async throws {
        let port = try MetricsTests.freePort()
        let daemon = try Daemon(source: "mic=file:\(Paths.wav("long24bit"))",
                                extra: ["--grpc-address", "127.0.0.1:\(port)", "--max-clients", "2"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        let socket = daemon.socket, scratch = daemon.scratch
        try await withTimeout(60, "the shared limit") {
            try await Self.admitted(to: socket) { holder in
                // The harness's readiness probes may still be leaving: wait until the holder is alone.
                while try await holder.statusReport().clients != 1 { try await Task.sleep(for: .milliseconds(10)) }
                let refusedBefore = try await holder.statusReport().totals.refusals["too-many-clients"] ?? 0
                try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) { earshot, _ in
                    try await earshot.subscribe(.with { $0.stream = "mic" }) { response in
                        for try await message in response.messages {
                            guard case .started = message.response else { continue }
                            // A socket client and a gRPC subscription hold both slots.
                            let status = try await holder.statusReport()
                            #expect(status.clients == 2)
                            #expect(Set(status.connections.map(\.transport)) == [.socket, .grpc])
                            // A third socket client is turned away...
                            await #expect(throws: (any Error).self) {
                                try await EarshotConnection.withConnection(to: socket) { try await $0.ping() }
                            }
                            // ...and so is a third gRPC call.
                            let push = try ChildProcess(Paths.executable("earshot"), [
                                "push", "--grpc", "127.0.0.1:\(port)", "--input", Paths.wav("short"),
                                "--output", scratch.file("refused.npy")], logPath: scratch.file("refused.log"))
                            let code = push.wait(timeout: 30).map(ChildProcess.exitCode)
                            #expect(code != nil && code != 0)
                            #expect(push.log.contains("RESOURCE_EXHAUSTED") || push.log.contains("resourceExhausted"),
                                    "\(push.log)")
                            break
                        }
                    }
                }
                // Both refusals are counted, whichever transport they came by.
                let refused = try await holder.statusReport().totals.refusals["too-many-clients"] ?? 0
                #expect(refused == refusedBefore + 2)
            }
        }
    }

    /// gRPC calls refused at the client limit by the gRPC service itself (gRPC calls alone fill `max-clients`) are
    /// counted with the socket's refusals, in status and so in `earshot_refusals_total` (issue #19, item 6: they
    /// were missing).
    @Test func gRPCCallsRefusedAtTheLimitAreCountedAsRefusals() async throws {
        let port = try MetricsTests.freePort()
        let daemon = try Daemon(source: "mic=file:\(Paths.wav("long24bit"))",
                                extra: ["--grpc-address", "127.0.0.1:\(port)", "--max-clients", "2"])
        defer { _ = daemon.terminate() }
        try Self.waitForListener(port, daemon: daemon)
        try await withTimeout(60, "the gRPC refusals") {
            try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) { earshot, _ in
                func refusals() async throws -> UInt64 {
                    let json = try await earshot.status(.init()).json
                    let status = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
                    let totals = status?["totals"] as? [String: Any]
                    return ((totals?["refusals"] as? [String: Any])?["too-many-clients"] as? NSNumber)?.uint64Value ?? 0
                }
                let before = try await refusals()
                let (holdersStarted, started) = AsyncStream.makeStream(of: Void.self)
                let holds = (0..<2).map { _ in AsyncStream.makeStream(of: Void.self) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (done, _) in holds {
                        group.addTask {
                            try await earshot.subscribe(.with { $0.stream = "mic" }) { response in
                                for try await message in response.messages {
                                    if case .started = message.response { started.yield() }
                                    break
                                }
                                for await _ in done {}
                            }
                        }
                    }
                    var count = 0
                    for await _ in holdersStarted {
                        count += 1
                        if count == 2 { break }
                    }
                    // Both slots are held by gRPC calls: the third is turned away by the service.
                    for _ in 0..<3 {
                        do {
                            try await earshot.subscribe(.with { $0.stream = "mic" }) { response in
                                for try await _ in response.messages {}
                            }
                            Issue.record("a call beyond max-clients was served")
                        } catch let error as RPCError {
                            #expect(error.code == .resourceExhausted)
                        }
                    }
                    #expect(try await refusals() == before + 3)
                    for (_, release) in holds { release.finish() }
                    try await group.waitForAll()
                }
            }
        }
    }
}

/// The offline encoding of `speech` as rows of little-endian f32 bytes, via `earshot encode`.
private func NPYFromEncode(_ scratch: ScratchDirectory) throws -> [[UInt8]] {
    try GRPCDaemonTests.earshot(["encode", "--model", Paths.model(), "--input", Paths.wav("speech"),
                                 "--output", scratch.file("offline.npy"), "--precision", "f32"], in: scratch, "offline")
    let array = try NPY.read(path: scratch.file("offline.npy"))
    let width = array.shape[1]
    return (0..<array.shape[0]).map { row in
        var bytes: [UInt8] = []
        for v in array.values[(row * width)..<((row + 1) * width)] {
            withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
        }
        return bytes
    }
}
