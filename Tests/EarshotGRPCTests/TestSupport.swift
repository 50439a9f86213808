import EarshotGRPC
import EarshotTypes
import Foundation
import GRPCCore
import Logging
import Synchronization
import WireProtocol

/// A backend whose streams are scripted:
/// - live stream "mic": `subscribe` delivers `liveTokens` tokens (values [index, index + 0.5, −index, 1/3]) and then
///   `ended` — all before it returns, so the service must hold them behind `started`. Like the engine's hub, once the
///   call refuses a token it delivers nothing more until resumed: then a `lagged` event for what it lost, and `ended`;
/// - a push (mono, any format): every 4 samples become one token whose values are those
///   samples; `finish` flushes a zero-padded last token flagged `final`, then `ended`.
final class TestBackend: EmbeddingBackend {
    let model: BackendModel
    let liveTokens = 3
    /// Pushed tokens a stream may have unwritten before `append` waits (nil: never waits), like the engine's budget.
    let pushBudget: Int?
    /// The most pushed tokens any stream had unwritten at once.
    let mostUnwritten = Atomic<Int>(0)
    let outstandingCredits = Atomic<Int>(0)
    let cancelledSubscriptions = Atomic<Int>(0)
    /// Calls the service turned away itself (``EmbeddingBackend/callRefused(_:)``).
    let refusedCalls = Mutex<[BackendRefusal.Reason]>([])

    init(voiceActivity: Bool = true, pushBudget: Int? = nil) {
        self.pushBudget = pushBudget
        model = BackendModel(id: "test-model", embeddingWidth: 4, encoderWidth: 4, voiceActivity: voiceActivity)
    }

    func statusJSON() -> String { #"{"server":"test","protocol":1,"streams":[{"name":"mic"}]}"# }

    func subscribe(_ request: SubscribeParameters, receiver: any StreamReceiver) throws(BackendRefusal)
        -> any BackendSubscription {
        guard request.stream == "mic" else { throw BackendRefusal(.unknownStream, "no stream '\(request.stream)'") }
        let subscription = Subscription(stream: request.stream, firstToken: 0, backend: self, receiver: receiver)
        for i in 0..<liveTokens {
            let v = Float(i)
            let token = BackendToken(index: UInt64(i), firstSample: Int64(640 * i), captureTimeNanoseconds: 1,
                                     flags: i == 0 ? .discontinuity : [], values: FloatTokenValues([v, v + 0.5, -v, 1 / 3]))
            if subscription.lag.withLock({ $0 }) != nil || !receiver.live(token) {
                subscription.lag.withLock { lag in lag = (lag?.from ?? UInt64(i), (lag?.count ?? 0) + 1) }
            }
        }
        if subscription.lag.withLock({ $0 }) == nil { subscription.end() }
        return subscription
    }

    func startPush(_ request: PushParameters, receiver: any StreamReceiver) throws(BackendRefusal) -> any PushedStream {
        guard request.channels == 1 else { throw BackendRefusal(.badAudioFormat, "the test backend takes mono") }
        return Pushed(format: request.format, receiver: receiver, backend: self)
    }

    func callRefused(_ refusal: BackendRefusal) { refusedCalls.withLock { $0.append(refusal.reason) } }

    final class Subscription: BackendSubscription {
        let stream: String
        let firstToken: UInt64
        let backend: TestBackend
        let receiver: any StreamReceiver
        /// Refused from token `from` on, `count` tokens lost: nothing more is delivered until resumed.
        let lag = Mutex<(from: UInt64, count: UInt64)?>(nil)

        init(stream: String, firstToken: UInt64, backend: TestBackend, receiver: any StreamReceiver) {
            self.stream = stream
            self.firstToken = firstToken
            self.backend = backend
            self.receiver = receiver
        }

        func cancel() { backend.cancelledSubscriptions.add(1, ordering: .relaxed) }

        func resume(room: Int) {
            guard let (from, count) = lag.withLock({ $0.take() }) else { return }
            receiver.event(BackendEvent(kind: .lagged, at: Int64(from), count: count,
                                        message: "you read too slowly: \(count) frames dropped"))
            end()
        }

        func end() { receiver.event(BackendEvent(kind: .ended, at: 0, count: UInt64(backend.liveTokens))) }
    }

    final class Credit: TokenCredit {
        let backend: TestBackend
        let stream: Pushed
        let released = Atomic<Bool>(false)
        init(backend: TestBackend, stream: Pushed) {
            self.backend = backend
            self.stream = stream
            backend.outstandingCredits.add(1, ordering: .relaxed)
        }
        func tokenSent() {
            precondition(!released.exchange(true, ordering: .relaxed), "a credit released twice")
            backend.outstandingCredits.subtract(1, ordering: .relaxed)
            stream.released()
        }
    }

    final class Pushed: PushedStream {
        private struct State {
            var pending: [Float] = []
            var tokens: UInt64 = 0
            var unwritten = 0
            var cancelled = false
            var waiter: CheckedContinuation<Void, Never>?
        }
        private let state = Mutex(State())
        private let format: PCMFormat
        private let receiver: any StreamReceiver
        private let backend: TestBackend

        init(format: PCMFormat, receiver: any StreamReceiver, backend: TestBackend) {
            self.format = format
            self.receiver = receiver
            self.backend = backend
        }

        func append(_ pcm: [UInt8]) async throws {
            var samples: [Float] = []
            format.decode(pcm[...], into: &samples)
            let ready: [(UInt64, [Float])] = state.withLock { s in
                s.pending += samples
                var out: [(UInt64, [Float])] = []
                while s.pending.count >= 4 {
                    out.append((s.tokens, Array(s.pending.prefix(4))))
                    s.pending.removeFirst(4)
                    s.tokens += 1
                }
                return out
            }
            for (index, values) in ready { deliver(index, values, flags: []) }
            // Backpressure: wait while more than the budget is unwritten (woken by `released` or `cancel`).
            guard let budget = backend.pushBudget else { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = state.withLock { s in
                    guard s.unwritten > budget, !s.cancelled else { return false }
                    s.waiter = continuation
                    return true
                }
                if !wait { continuation.resume() }
            }
            try Task.checkCancellation()
        }

        func released() {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.unwritten -= 1
                guard s.unwritten <= (backend.pushBudget ?? .max) else { return nil }
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }

        func finish() {
            let (last, count): ((UInt64, [Float])?, UInt64) = state.withLock { s in
                var last: (UInt64, [Float])?
                if !s.pending.isEmpty {
                    last = (s.tokens, s.pending + [Float](repeating: 0, count: 4 - s.pending.count))
                    s.tokens += 1
                    s.pending = []
                }
                return (last, s.tokens)
            }
            if let last { deliver(last.0, last.1, flags: .final) }
            receiver.event(BackendEvent(kind: .speechStart, at: 0))
            receiver.event(BackendEvent(kind: .ended, at: 0, count: count))
        }

        func cancel() {
            let waiter = state.withLock { s in
                s.cancelled = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }

        private func deliver(_ index: UInt64, _ values: [Float], flags: TokenFlags) {
            let unwritten = state.withLock { s in
                s.unwritten += 1
                return s.unwritten
            }
            var most = backend.mostUnwritten.load(ordering: .relaxed)
            while unwritten > most {
                let (exchanged, original) = backend.mostUnwritten.compareExchange(expected: most, desired: unwritten,
                                                                                   ordering: .relaxed)
                if exchanged { break }
                most = original
            }
            receiver.pushed(BackendToken(index: index, firstSample: Int64(index) * 640, captureTimeNanoseconds: 7,
                                         flags: flags, values: FloatTokenValues(values)),
                            credit: Credit(backend: backend, stream: self))
        }
    }
}

/// Runs a real server for `configuration` on its port (use port 0), calls `body` with the bound port, then stops it.
func withServer<R: Sendable>(_ configuration: GRPCServerConfiguration, backend: TestBackend = TestBackend(),
                             _ body: @Sendable (Int) async throws -> R) async throws -> R {
    try await withService(configuration, backend: backend) { _, port in try await body(port) }
}

/// Runs a real server for `configuration`, gives `body` the service (for its counts) and its port, then stops it the
/// way the daemon does, with a graceful shutdown, and waits for it to end. Cancelling the server instead could trap
/// in NIO on a connection accepted but not yet served (a client reconnecting just then; apple/swift-nio#2813).
func withService<R: Sendable>(_ configuration: GRPCServerConfiguration, backend: TestBackend = TestBackend(),
                              _ body: @Sendable (GRPCServerService, Int) async throws -> R) async throws -> R {
    let service = try GRPCServerService(configuration: configuration, backend: backend,
                                        logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await service.run() }
        let result: Result<R, any Error>
        do {
            result = .success(try await body(service, try await service.listeningPort))
        } catch {
            result = .failure(error)
        }
        service.shutDown()
        try await group.waitForAll()
        return try result.get()
    }
}

func loopback(_ port: Int = 0) -> GRPCServerConfiguration { GRPCServerConfiguration(host: "127.0.0.1", port: port) }

/// A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, made with openssl in a fresh
/// temporary directory for each use.
struct TestPKI {
    let directory: String
    var caCertificate: String { directory + "/ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    var clientCertificate: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client.key" }
    /// Signed by a second CA the server does not trust.
    var strangerCertificate: String { directory + "/stranger.pem" }
    var strangerKey: String { directory + "/stranger.key" }

    static let openSSLConfig = """
        [req]
        distinguished_name = dn
        prompt = no
        [dn]
        CN = unused
        [ca]
        basicConstraints = critical, CA:TRUE
        keyUsage = critical, keyCertSign, cRLSign
        subjectKeyIdentifier = hash
        [server]
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = serverAuth
        subjectAltName = DNS:localhost, IP:127.0.0.1
        [client]
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = clientAuth

        """

    static func make() throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("earshot-grpc-pki-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try openSSLConfig.write(toFile: directory + "/openssl.cnf", atomically: true, encoding: .utf8)
        let pki = TestPKI(directory: directory)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for ca in ["ca", "stranger-ca"] {
            try pki.openssl(["req", "-x509", "-config", "openssl.cnf", "-extensions", "ca"] + key
                            + ["-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=Earshot test \(ca)"])
        }
        for (name, ca, extensions, subject) in [("server", "ca", "server", "/CN=localhost"),
                                                ("client", "ca", "client", "/CN=earshot-test-client"),
                                                ("stranger", "stranger-ca", "client", "/CN=stranger")] {
            try pki.openssl(["req", "-new", "-config", "openssl.cnf"] + key
                            + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
            try pki.openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key",
                             "-set_serial", "\(Int.random(in: 2...1_000_000))", "-days", "2", "-out", "\(name).pem",
                             "-extfile", "openssl.cnf", "-extensions", extensions])
        }
        return pki
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("openssl \(arguments.joined(separator: " ")): \(String(decoding: message, as: UTF8.self))")
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// f32le bytes of `samples`.
func f32le(_ samples: [Float]) -> [UInt8] {
    var writer = ByteWriter()
    for s in samples { writer.f32(s) }
    return writer.bytes
}
