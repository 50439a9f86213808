import ClientSessions
import EarshotTypes
import EncodingScheduler
import Gemma4Audio
import Foundation
import LiveView
import Logging
import LoopbackTestSupport
import NIOCore
import Synchronization
import WireProtocol

/// A session host with one live stream, "mic", whose tokens the test hands to the subscribers itself. Requests pass
/// the session layer's own ``RequestChecks``; at most `maxClients` sessions are open at once, as the registry allows.
final class ScriptedSessions: SessionHost {
    let model = SessionModel(id: "test", embeddingWidth: 3, encoderWidth: 2, samplesPerToken: 640, payloads: [.f32], voiceActivity: true)
    let maxClients: Int
    let receivers = Mutex<[any StreamReceiver]>([])
    let resumes = Mutex<[Int]>([])
    /// Subscriptions cancelled (the session cancels what it holds when it closes).
    let cancelled = Atomic(0)
    /// Who was admitted, and what they may hold.
    let admitted = Mutex<[(client: ClientDescription, limits: SessionLimits)]>([])
    let openSessions = Atomic(0)
    let pushes = Mutex<[Pushed]>([])

    init(maxClients: Int = 64) { self.maxClients = maxClients }

    func statusJSON() -> String { #"{"server":"test","streams":[{"name":"mic","kind":"live"}]}"# }

    func admit(_ client: ClientDescription, limits: SessionLimits,
               activity: @escaping @Sendable () -> ClientActivity) throws(SessionRefusal) -> any ClientSession {
        guard openSessions.add(1, ordering: .relaxed).newValue <= maxClients else {
            openSessions.subtract(1, ordering: .relaxed)
            throw SessionRefusal(.tooManyClients, "the server already serves \(maxClients) clients")
        }
        admitted.withLock { $0.append((client, limits)) }
        return Session(host: self, checks: RequestChecks(model: model, limits: limits))
    }

    func refused(reason: String) {}

    /// One token as a one-row block, as the engine hands it out.
    static func token(_ index: UInt64, firstSample: Int64 = 0, capture: Int64 = 0, flags: TokenFlags = [],
                      values: [Float], credit: (any TokenCredit)? = nil) -> SessionToken {
        var tokens = EncodedTokens(firstToken: Int(index), encoderWidth: values.count, embeddingWidth: values.count)
        tokens.count = 1
        tokens.encoder = values
        tokens.embeddings = values
        let info = TokenInfo(index: index, firstSample: firstSample, captureTimeNanoseconds: capture, flags: flags)
        return SessionToken(TokenRecord(block: EncodedBlock(tokens: tokens, infos: [info]), row: 0), credit: credit)
    }

    /// Waits until `count` subscribers have subscribed.
    func subscribers(_ count: Int) async throws -> [any StreamReceiver] {
        for _ in 0..<2000 {
            let now = receivers.withLock { $0 }
            if now.count >= count { return now }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw LiveViewTestFailure("no subscriber came")
    }

    final class Session: ClientSession {
        let id = 1
        let host: ScriptedSessions
        let checks: RequestChecks
        private let held = Mutex<(subscriptions: [Subscription], pushes: [Pushed], closed: Bool)>(([], [], false))

        init(host: ScriptedSessions, checks: RequestChecks) {
            self.host = host
            self.checks = checks
        }

        func subscribe(_ request: SubscribeRequest, receiver: any StreamReceiver,
                       announce: (UInt64) -> Void) throws(SessionRefusal) -> any ClientSessions.Subscription {
            try checks.check(request, liveStreams: ["mic"], held: held.withLock { $0.subscriptions.count })
            let subscription = Subscription(host: host)
            held.withLock { $0.subscriptions.append(subscription) }
            receiver.attach(subscription)
            announce(0)
            host.receivers.withLock { $0.append(receiver) }
            return subscription
        }

        /// A push that keeps the audio it is given and, on `finish`, sends one token of its first three samples
        /// (f32le) and `ended`.
        func startPush(_ request: PushRequest, name: String, receiver: any StreamReceiver) throws(SessionRefusal)
            -> any PushedStream {
            try checks.check(request, held: held.withLock { $0.pushes.count })
            let push = Pushed(receiver: receiver, parameters: request)
            held.withLock { $0.pushes.append(push) }
            host.pushes.withLock { $0.append(push) }
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
            host.openSessions.subtract(1, ordering: .relaxed)
        }
    }

    final class Subscription: ClientSessions.Subscription {
        let host: ScriptedSessions
        var stream: String { "mic" }
        var firstToken: UInt64 { 0 }
        init(host: ScriptedSessions) { self.host = host }
        func cancel(reason: String) { host.cancelled.add(1, ordering: .relaxed) }
        func resume(room: Int) { host.resumes.withLock { $0.append(room) } }
    }

    final class Pushed: PushedStream {
        let receiver: any StreamReceiver
        let parameters: PushRequest
        let audio = Mutex<[UInt8]>([])
        let credits = Atomic(0)
        let cancelled = Atomic(false)

        init(receiver: any StreamReceiver, parameters: PushRequest) {
            self.receiver = receiver
            self.parameters = parameters
        }

        func append(_ pcm: ArraySlice<UInt8>) async { audio.withLock { $0 += pcm } }

        func finish() {
            let first = audio.withLock { bytes in
                (0..<3).map { i in Float(bitPattern: UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8
                                       | UInt32(bytes[4 * i + 2]) << 16 | UInt32(bytes[4 * i + 3]) << 24) }
            }
            receiver.pushed(ScriptedSessions.token(0, flags: [.final], values: first, credit: Credit(push: self)))
            receiver.event(EventInfo(.ended, count: 1, message: "done"))
        }

        func cancel() { cancelled.store(true, ordering: .relaxed) }

        final class Credit: TokenCredit {
            let push: Pushed
            init(push: Pushed) { self.push = push }
            func tokenSent() { push.credits.add(1, ordering: .relaxed) }
        }
    }
}

/// Log-mel frames of one live stream, "mic", handed to the watchers by the test.
final class ScriptedSpectrogram: SpectrogramSource {
    typealias Watcher = (frames: @Sendable (Int64, [Float]) -> Void, ended: @Sendable () -> Void)
    let watchers = Mutex<[Watcher]>([])
    let stopped = Atomic(0)
    var melBins: Int { 128 }

    func watchSpectrogram(of stream: String, _ watcher: @escaping @Sendable (Int64, [Float]) -> Void,
                          ended: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? {
        guard stream == "mic" else { return nil }
        watchers.withLock { $0.append((watcher, ended)) }
        return { self.stopped.add(1, ordering: .relaxed) }
    }

    func watcher() async throws -> Watcher {
        for _ in 0..<2000 {
            if let first = watchers.withLock({ $0.first }) { return first }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw LiveViewTestFailure("nobody watched")
    }
}

struct LiveViewTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a live view on 127.0.0.1 port 0 around `body`, which gets the port.
func withLiveView<R: Sendable>(_ configure: (inout LiveViewConfiguration) -> Void = { _ in },
                               sessions: ScriptedSessions = ScriptedSessions(),
                               spectrogram: ScriptedSpectrogram? = nil,
                               _ body: @Sendable (Int) async throws -> R) async throws -> R {
    var configuration = LiveViewConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0))
    configure(&configuration)
    let port = AsyncStream<Int>.makeStream()
    let server = try LiveViewServer(configuration: configuration, sessions: sessions, spectrogram: spectrogram,
                                    logger: Logger(label: "test")) { address in
        port.continuation.yield(address.port ?? 0)
    }
    let running = Task { try await server.run() }
    defer { running.cancel() }
    var ports = port.stream.makeAsyncIterator()
    guard let bound = await ports.next() else { throw LiveViewTestFailure("the server did not listen") }
    return try await body(bound)
}

/// A blocking TCP connection to 127.0.0.1 (tests run it off the cooperative pool's hot path; calls are short).
final class TestConnection: @unchecked Sendable {
    let fd: Int32
    private var buffered: [UInt8] = []

    init(port: Int) throws {
        fd = try LoopbackTCP.connected(port)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Sends one masked WebSocket frame (a client's frames are masked, RFC 6455 §5.3).
    func sendFrame(_ payload: [UInt8], text: Bool = false) {
        var frame: [UInt8] = [0x80 | (text ? 1 : 2)]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65_536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> (8 * $0)) & 0xFF) }
        }
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        write(frame)
    }

    /// Exactly `count` bytes (nil at end of stream).
    func read(_ count: Int) -> [UInt8]? {
        while buffered.count < count {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            buffered += chunk[..<n]
        }
        defer { buffered.removeFirst(count) }
        return Array(buffered[..<count])
    }

    /// Up to and including the blank line after the header.
    func readHead() -> String? {
        var head: [UInt8] = []
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            guard let byte = read(1) else { return nil }
            head += byte
        }
        return String(decoding: head, as: UTF8.self)
    }

    /// One HTTP/1.1 request on a fresh connection: the status code, the head, the body.
    static func get(_ port: Int, _ target: String, method: String = "GET", headers: [String] = []) async throws
        -> (status: Int, head: String, body: String) {
        try await offPool { try getBlocking(port, target, method: method, headers: headers) }
    }

    private static func getBlocking(_ port: Int, _ target: String, method: String, headers: [String])
        throws -> (status: Int, head: String, body: String) {
        let connection = try TestConnection(port: port)
        let host = headers.contains { $0.lowercased().hasPrefix("host:") } ? "" : "Host: 127.0.0.1:\(port)\r\n"
        connection.write(Array(("\(method) \(target) HTTP/1.1\r\n\(host)Connection: close\r\n"
                                + headers.map { $0 + "\r\n" }.joined() + "\r\n").utf8))
        guard let head = connection.readHead() else { throw LiveViewTestFailure("no answer to \(target)") }
        let status = Int(head.split(separator: " ")[1]) ?? 0
        let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        let body = method == "HEAD" ? [] : (connection.read(length) ?? [])
        return (status, head, String(decoding: body, as: UTF8.self))
    }

    /// Opens a WebSocket on `target`; nil (with the HTTP status) if it was not upgraded.
    static func webSocket(_ port: Int, _ target: String, headers: [String] = []) async throws
        -> (connection: TestConnection?, status: Int) {
        try await offPool { try webSocketBlocking(port, target, headers: headers) }
    }

    private static func webSocketBlocking(_ port: Int, _ target: String, headers: [String]) throws
        -> (connection: TestConnection?, status: Int) {
        let connection = try TestConnection(port: port)
        let host = headers.contains { $0.lowercased().hasPrefix("host:") } ? "" : "Host: 127.0.0.1:\(port)\r\n"
        connection.write(Array(("GET \(target) HTTP/1.1\r\n\(host)Upgrade: websocket\r\n"
                                + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                + "Sec-WebSocket-Version: 13\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n").utf8))
        guard let head = connection.readHead() else { throw LiveViewTestFailure("no answer to \(target)") }
        let status = Int(head.split(separator: " ")[1]) ?? 0
        return (status == 101 ? connection : nil, status)
    }

    enum Message: Equatable {
        case text(String)
        case binary([UInt8])
        case close(UInt16)
    }

    /// The next WebSocket message from the server (unmasked frames, never fragmented by NIO's encoder).
    func message() async -> Message? {
        (try? await offPool { self.messageBlocking() }) ?? nil
    }

    private func messageBlocking() -> Message? {
        guard let first = read(2) else { return nil }
        var length = Int(first[1] & 0x7F)
        if length == 126 { length = read(2).map { Int($0[0]) << 8 | Int($0[1]) } ?? 0 }
        if length == 127 { length = read(8).map { $0.reduce(0) { $0 << 8 | Int($1) } } ?? 0 }
        guard let payload = read(length) else { return nil }
        switch first[0] & 0x0F {
        case 1: return .text(String(decoding: payload, as: UTF8.self))
        case 2: return .binary(payload)
        case 8: return .close(payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1005)
        default: return messageBlocking()
        }
    }
}

/// Runs blocking socket calls on a thread of their own: on the cooperative pool they would starve the server's tasks.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
