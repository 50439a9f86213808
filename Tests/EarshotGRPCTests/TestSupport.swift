import AudioCore
import ClientSessions
import EarshotGRPC
import EarshotTypes
import EncodingScheduler
import Foundation
import GRPCCore
import Gemma4Audio
import Logging
import Synchronization

/// A session host whose streams are scripted:
/// - live stream "mic": `subscribe` delivers `liveTokens` tokens (values [index, index + 0.5, −index, 1/3]) and then
///   `ended` — all before it returns, so the service must hold them behind `started`. Like the engine's hub, once the
///   call refuses a token it delivers nothing more until resumed: then a `lagged` event for what it lost, and `ended`;
/// - a push (mono, any format): every 4 samples become one token whose values are those
///   samples; `finish` flushes a zero-padded last token flagged `final`, then `ended`.
/// Requests pass the session layer's own ``RequestChecks``; at most `maxClients` sessions are open at once.
final class TestBackend: SessionHost {
    let model: SessionModel
    let liveTokens = 3
    let maxClients: Int
    /// Pushed tokens a stream may have unwritten before `append` waits (nil: never waits), like the engine's budget.
    let pushBudget: Int?
    /// The most pushed tokens any stream had unwritten at once.
    let mostUnwritten = Atomic<Int>(0)
    let outstandingCredits = Atomic<Int>(0)
    let cancelledSubscriptions = Atomic<Int>(0)
    let openSessions = Atomic<Int>(0)
    /// Calls turned away: past `maxClients`, or told by the service (``SessionHost/refused(reason:)``).
    let refusedCalls = Mutex<[SessionRefusal.Reason]>([])

    init(voiceActivity: Bool = true, pushBudget: Int? = nil, maxClients: Int = 64) {
        self.pushBudget = pushBudget
        self.maxClients = maxClients
        model = SessionModel(id: "test-model", embeddingWidth: 4, encoderWidth: 4, samplesPerToken: 640, voiceActivity: voiceActivity)
    }

    func statusJSON() -> String { #"{"server":"test","protocol":1,"streams":[{"name":"mic"}]}"# }

    func admit(_ client: ClientDescription, limits: SessionLimits,
               activity: @escaping @Sendable () -> ClientActivity) throws(SessionRefusal) -> any ClientSession {
        guard openSessions.add(1, ordering: .relaxed).newValue <= maxClients else {
            openSessions.subtract(1, ordering: .relaxed)
            refusedCalls.withLock { $0.append(.tooManyClients) }
            throw SessionRefusal(.tooManyClients, "the server already serves \(maxClients) clients")
        }
        return Session(backend: self, checks: RequestChecks(model: model, limits: limits))
    }

    func refused(reason: String) {
        guard let known = SessionRefusal.Reason.allCases.first(where: { $0.name == reason }) else { return }
        refusedCalls.withLock { $0.append(known) }
    }

    /// One token as a one-row block.
    static func token(_ index: UInt64, capture: Int64, flags: TokenFlags, values: [Float]) -> TokenRecord {
        var tokens = EncodedTokens(firstToken: Int(index), encoderWidth: values.count, embeddingWidth: values.count)
        tokens.count = 1
        tokens.encoder = values
        tokens.embeddings = values
        let info = TokenInfo(index: index, firstSample: Int64(index) * 640, captureTimeNanoseconds: capture,
                             flags: flags)
        return TokenRecord(block: EncodedBlock(tokens: tokens, infos: [info]), row: 0)
    }

    final class Session: ClientSession {
        let id = 1
        let backend: TestBackend
        let checks: RequestChecks
        private let held = Mutex<(subscriptions: [Subscription], pushes: [Pushed], closed: Bool)>(([], [], false))

        init(backend: TestBackend, checks: RequestChecks) {
            self.backend = backend
            self.checks = checks
        }

        func subscribe(_ request: SubscribeRequest, receiver: any StreamReceiver,
                       announce: (UInt64) -> Void) throws(SessionRefusal) -> any ClientSessions.Subscription {
            try checks.check(request, liveStreams: ["mic"], held: held.withLock { $0.subscriptions.count })
            let subscription = Subscription(stream: request.stream, firstToken: 0, backend: backend, receiver: receiver)
            held.withLock { $0.subscriptions.append(subscription) }
            receiver.attach(subscription)
            announce(0)
            for i in 0..<backend.liveTokens {
                let v = Float(i)
                let token = TestBackend.token(UInt64(i), capture: 1, flags: i == 0 ? .discontinuity : [],
                                              values: [v, v + 0.5, -v, 1 / 3])
                let lagging = subscription.lag.withLock { $0 } != nil
                if lagging || !receiver.live(SessionToken(token)) {
                    subscription.lag.withLock { lag in
                        let from: UInt64 = lag?.from ?? UInt64(i)
                        let count: UInt64 = (lag?.count ?? 0) + 1
                        lag = (from, count)
                    }
                }
            }
            if subscription.lag.withLock({ $0 }) == nil { subscription.end() }
            return subscription
        }

        func startPush(_ request: PushRequest, name: String, receiver: any StreamReceiver) throws(SessionRefusal)
            -> any PushedStream {
            try checks.check(request, held: held.withLock { $0.pushes.count })
            guard request.channels == 1 else { throw SessionRefusal(.badAudioFormat, "the test backend takes mono") }
            let push = Pushed(format: request.format, receiver: receiver, backend: backend)
            held.withLock { $0.pushes.append(push) }
            return push
        }

        func sent(_ token: SessionToken) { token.credit?.tokenSent() }

        var activePushes: Int { 0 }

        func pushesEnded(within timeout: Duration) async -> Bool { true }

        func close() {
            let (subscriptions, pushes, wasClosed) = held.withLock { h in
                defer { h = ([], [], true) }
                return h
            }
            guard !wasClosed else { return }
            for subscription in subscriptions { subscription.cancel(reason: "gone") }
            for push in pushes { push.cancel() }
            backend.openSessions.subtract(1, ordering: .relaxed)
        }
    }

    final class Subscription: ClientSessions.Subscription {
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

        func cancel(reason: String) { backend.cancelledSubscriptions.add(1, ordering: .relaxed) }

        func resume(room: Int) {
            guard let (from, count) = lag.withLock({ $0.take() }) else { return }
            receiver.event(EventInfo(.lagged, at: Int64(from), count: count,
                                     message: "you read too slowly: \(count) frames dropped"))
            end()
        }

        func end() { receiver.event(EventInfo(.ended, count: UInt64(backend.liveTokens))) }
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
        private let format: PCMSampleFormat
        private let receiver: any StreamReceiver
        private let backend: TestBackend

        init(format: PCMSampleFormat, receiver: any StreamReceiver, backend: TestBackend) {
            self.format = format
            self.receiver = receiver
            self.backend = backend
        }

        func append(_ pcm: ArraySlice<UInt8>) async {
            var samples: [Float] = []
            pcm.withUnsafeBytes { format.decode($0, appendingTo: &samples) }
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
            receiver.event(EventInfo(.speechStart))
            receiver.event(EventInfo(.ended, count: count))
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
            receiver.pushed(SessionToken(TestBackend.token(index, capture: 7, flags: flags, values: values),
                                         credit: Credit(backend: backend, stream: self)))
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
    let service = try GRPCServerService(configuration: configuration, sessions: backend,
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
    samples.withUnsafeBufferPointer { PayloadType.f32.encoded($0) }
}
