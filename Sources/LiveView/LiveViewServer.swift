import ClientSessions
import ConnectionAdmission
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// The live view (issue #23) on `--http-address HOST:PORT`, as a `Service`:
/// - `/` (and `/live.js`, `/live.css`): the page, from inside the binary (``LiveViewAssets``);
/// - `/v1/status`: the status document the socket and gRPC serve (docs/protocol.md, "Status");
/// - `/v1/streams/{name}/ws`: a WebSocket of the stream's tokens and events (``StreamFeed``);
/// - `/v1/streams/{name}/mel/ws`: a WebSocket of its log-mel frames (``SpectrogramFeed``);
/// - `/v1/push/ws`: a WebSocket push, audio in and tokens out (``PushFeed``).
///
/// GET and HEAD only (405 otherwise), 404 for any other path: there is no file system behind it. The API's paths
/// need the bearer token when one is configured (401), and a browser's WebSocket from another origin is refused
/// (403); a loopback listener without a token answers only a `Host` naming this machine (403: DNS rebinding).
/// Connections are capped and deadlined by ``ListenerAdmission``, as the other listeners are; every feed is a client
/// session of the daemon's one registry (``SessionHost``), so `max-clients` bounds them with the socket and gRPC.
package final class LiveViewServer: Service, Sendable {
    package let configuration: LiveViewConfiguration
    /// The listener's connection cap and deadlines (and counts, for tests).
    package let admission: ListenerAdmission
    private let sessions: any SessionHost
    private let spectrogram: (any SpectrogramSource)?
    /// Turns feeds away once the daemon stops, and tells the running ones.
    private let gate = StopGate()
    private let running = RunningFeeds()
    private let sslContext: NIOSSLContext?
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    /// Checks `configuration` (``LiveViewConfiguration/validated()``); nothing listens until ``run()``.
    /// `onListening` gets the bound address (port 0 picks one).
    package init(configuration: LiveViewConfiguration, sessions: any SessionHost,
                 spectrogram: (any SpectrogramSource)?, logger: Logger,
                 onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) throws(LiveViewConfigurationError) {
        self.configuration = try configuration.validated()
        do {
            sslContext = try configuration.sslContext()
        } catch {
            throw LiveViewConfigurationError("--http-tls-cert/--http-tls-key: \(error)")
        }
        self.sessions = sessions
        self.spectrogram = spectrogram
        admission = ListenerAdmission(name: "http", limits: configuration.connections,
                                      onEvent: logger.admissionEvents("http"))
        self.logger = logger
        self.onListening = onListening
    }

    package func run() async throws {
        let admission = self.admission, sslContext = self.sslContext, configuration = self.configuration
        let feeds = FeedSessions(sessions: sessions, gate: gate, running: running, configuration: configuration)
        let endpoints = Endpoints(configuration: configuration, feeds: feeds, spectrogram: spectrogram, logger: logger)
        let address = configuration.address
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { listener in
                    admission.install(on: listener).flatMap { ListenerAdmission.installAcceptBackoff(on: listener) }
                }
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                        }
                        let http = HTTPHandler(endpoints: endpoints)
                        let upgrader = NIOWebSocketServerUpgrader(
                            maxFrameSize: configuration.maxFrameBytes,
                            shouldUpgrade: { channel, head in
                                channel.eventLoop.makeSucceededFuture(endpoints.upgradeHeaders(for: head))
                            },
                            upgradePipelineHandler: { channel, head in
                                channel.eventLoop.makeCompletedFuture {
                                    ListenerAdmission.requestStarted(on: channel)
                                    try channel.pipeline.syncOperations.addHandler(
                                        WebSocketHandler(maxMessageBytes: configuration.maxFrameBytes,
                                                         takesInput: endpoints.takesInput(head),
                                                         start: endpoints.feed(for: head)))
                                }
                            })
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                            withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                                // Upgraded: the connection speaks WebSocket from now on.
                                let operations = context.pipeline.syncOperations
                                if let http = try? operations.handler(type: HTTPHandler.self) {
                                    operations.removeHandler(http, promise: nil)
                                }
                            }))
                        try channel.pipeline.syncOperations.addHandler(http)
                    }
                }
                .bind(host: address.host == "localhost" ? "127.0.0.1" : address.host, port: address.port).get()
        } catch {
            throw LiveViewConfigurationError("--http-address \(address): cannot listen: \(error)")
        }
        if let bound = channel.localAddress { onListening(bound) }
        logger.info("serving the live view", metadata: [
            "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "tls": "\(sslContext != nil)",
            "token": "\(configuration.bearerToken != nil)"])
        let gate = self.gate, running = self.running
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            // Feeds send what they hold (within the drain timeout) and close with 1001; new ones are refused.
            gate.stop()
            channel.close(promise: nil)
            admission.quiesce()
        }
        // The feeds run on their connections, not under this task: the stop waits for them (a browser that does not
        // read holds one at most the drain timeout, then it is failed and closed).
        let deadline = ContinuousClock.now + configuration.drainTimeout + .milliseconds(250)
        while running.current > 0 && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// What the live view answers, shared by every connection.
struct Endpoints: Sendable {
    let configuration: LiveViewConfiguration
    let feeds: FeedSessions
    let spectrogram: (any SpectrogramSource)?
    let logger: Logger

    /// An HTTP answer.
    struct Answer {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]
        var headers: [(String, String)] = []

        static func text(_ status: HTTPResponseStatus, _ text: String, headers: [(String, String)] = []) -> Answer {
            Answer(status: status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8),
                   headers: headers)
        }
    }

    /// Whether `Host` must name this machine (``LiveViewRequest/isForeignHost(_:)``): a loopback listener without a
    /// token.
    var checksHost: Bool { configuration.address.isLoopback && configuration.bearerToken == nil }

    /// The answer to a request that is not a WebSocket upgrade.
    func answer(_ head: HTTPRequestHead) -> Answer {
        let request = LiveViewRequest(uri: head.uri)
        if case .notFound = request.route {
            return .text(.notFound, "not found: the live view serves /, its files and /v1/…")
        }
        guard head.method == .GET || head.method == .HEAD else {
            return .text(.methodNotAllowed, "GET and HEAD only", headers: [("Allow", "GET, HEAD")])
        }
        if checksHost && LiveViewRequest.isForeignHost(head.headers) {
            return .text(.forbidden, "this loopback listener answers only Host: localhost, 127.0.0.1 or [::1] "
                         + "(set a bearer token to serve other names)")
        }
        guard request.isAuthorized(head.headers, expected: configuration.bearerToken) else {
            return .text(.unauthorized, "a valid 'Authorization: Bearer <token>' (or ?token=) is required",
                         headers: [("WWW-Authenticate", "Bearer")])
        }
        switch request.route {
        case .asset(let asset):
            return Answer(status: .ok, contentType: asset.mediaType, body: asset.bytes, headers: [
                ("Cache-Control", "no-cache"),
                // Nothing but the daemon's own files and feeds: no CDN, no inline script, no framing.
                ("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                 + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
            ])
        case .status:
            return Answer(status: .ok, contentType: "application/json", body: Array(feeds.sessions.statusJSON().utf8),
                          headers: [("Cache-Control", "no-store")])
        case .tokens, .spectrogram, .push:
            if LiveViewRequest.isCrossOrigin(head.headers) { return .text(.forbidden, "cross-origin request refused") }
            return .text(.upgradeRequired, "this is a WebSocket endpoint (docs/protocol.md, \"WebSocket\")",
                         headers: [("Upgrade", "websocket")])
        case .notFound:
            return .text(.notFound, "not found")
        }
    }

    /// Headers to upgrade with, or nil to let ``answer(_:)`` say why not.
    func upgradeHeaders(for head: HTTPRequestHead) -> HTTPHeaders? {
        let request = LiveViewRequest(uri: head.uri)
        guard head.method == .GET, request.isAuthorized(head.headers, expected: configuration.bearerToken),
              !LiveViewRequest.isCrossOrigin(head.headers),
              !(checksHost && LiveViewRequest.isForeignHost(head.headers)) else { return nil }
        switch request.route {
        case .tokens, .push: return HTTPHeaders()
        case .spectrogram: return spectrogram == nil ? nil : HTTPHeaders()
        default: return nil
        }
    }

    /// Whether the feed reads what the browser sends (a push); the others drop it.
    func takesInput(_ head: HTTPRequestHead) -> Bool {
        if case .push = LiveViewRequest(uri: head.uri).route { return true }
        return false
    }

    /// What a WebSocket connection runs once upgraded.
    func feed(for head: HTTPRequestHead) -> @Sendable (FeedSender, FeedInbound) async -> FeedClose {
        let request = LiveViewRequest(uri: head.uri)
        switch request.route {
        case .tokens(let stream):
            let feed = StreamFeed(feeds: feeds), logger = self.logger
            return { sender, _ in
                logger.debug("websocket feed", metadata: ["stream": "\(stream)", "peer": "\(sender.peer)"])
                let parsed: StreamFeed.Request
                do throws(FeedRefusal) {
                    parsed = try StreamFeed.Request(stream: stream, query: request.query)
                } catch {
                    return .refused(error)
                }
                return await feed.run(parsed, peer: sender.peer) { try await sender.send($0) }
            }
        case .spectrogram(let stream):
            let feed = SpectrogramFeed(source: spectrogram, feeds: feeds)
            return { sender, _ in await feed.run(stream: stream, peer: sender.peer) { try await sender.send($0) } }
        case .push:
            let feed = PushFeed(feeds: feeds), logger = self.logger
            return { sender, inbound in
                let parsed: PushFeed.Request
                do throws(FeedRefusal) {
                    parsed = try PushFeed.Request(query: request.query)
                } catch {
                    return .refused(error)
                }
                logger.debug("websocket push", metadata: ["label": "\(parsed.parameters.label)",
                                                          "peer": "\(sender.peer)"])
                return await feed.run(parsed, peer: sender.peer, inbound: inbound) { try await sender.send($0) }
            }
        default:
            return { _, _ in .refused(FeedRefusal("notFound", "no such feed")) }
        }
    }
}

/// One HTTP/1.1 connection's requests (those not upgraded to a WebSocket).
private final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: Endpoints
    private var request: HTTPRequestHead?

    init(endpoints: Endpoints) { self.endpoints = endpoints }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            ListenerAdmission.requestStarted(on: context.channel)
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let answer = endpoints.answer(head)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: "\(answer.body.count)")
        for (name, value) in answer.headers { headers.add(name: name, value: value) }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: answer.status,
                                                             headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))),
                          promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            ListenerAdmission.requestFinished(on: channel)
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

/// Sends a feed's messages on its WebSocket, each once the previous one is written to the socket: a browser that
/// does not read holds the feed, whose queue then refuses live tokens (`lagged`), never growing without bound.
struct FeedSender: Sendable {
    let channel: any Channel
    /// Whether this side has sent its close frame (then the browser's close is the answer, not to be answered).
    let closeSent: CloseFlag

    /// The browser's address, for status and logs.
    var peer: String { channel.remoteAddress.map { "\($0)" } ?? "?" }

    func send(_ message: FeedMessage) async throws {
        let frame: WebSocketFrame
        switch message {
        case .text(let text):
            frame = WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(string: text))
        case .binary(let bytes):
            frame = WebSocketFrame(fin: true, opcode: .binary, data: channel.allocator.buffer(bytes: bytes))
        }
        try await channel.writeAndFlush(frame).get()
    }

    /// Closes with `code` (RFC 6455 §7.4) and a reason: sends the close frame, and closes the connection once the
    /// browser answers it (``WebSocketHandler``), or after a second.
    func close(_ code: WebSocketErrorCode, reason: String) async {
        var data = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(String(decoding: reason.utf8.prefix(120), as: UTF8.self))
        closeSent.sent.store(true, ordering: .sequentiallyConsistent)
        try? await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)).get()
        try? await Task.sleep(for: .seconds(1))
        try? await channel.close()
    }
}

/// A WebSocket connection: runs its feed, hands it the browser's data frames (a push's audio), answers pings, and
/// closes when either side does.
private final class WebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let start: @Sendable (FeedSender, FeedInbound) async -> FeedClose
    private let maxMessageBytes: Int
    /// Whether the feed reads the browser's data frames (else they are dropped as they come).
    private let takesInput: Bool
    private var task: Task<Void, Never>?
    private var inbound: FeedInbound?
    /// A fragmented message being put together: its kind and bytes so far.
    private var partial: (text: Bool, bytes: [UInt8])?
    private let closeSent = CloseFlag()

    init(maxMessageBytes: Int, takesInput: Bool,
         start: @escaping @Sendable (FeedSender, FeedInbound) async -> FeedClose) {
        self.maxMessageBytes = maxMessageBytes
        self.takesInput = takesInput
        self.start = start
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let sender = FeedSender(channel: context.channel, closeSent: closeSent), start = self.start
        let inbound = FeedInbound(channel: context.channel)
        self.inbound = inbound
        task = Task {
            switch await start(sender, inbound) {
            case .ended:
                await sender.close(.normalClosure, reason: "the stream ended")
            case .stopping:
                await sender.close(.goingAway, reason: "the daemon is stopping")
            case .refused(let refusal):
                try? await sender.send(.text(FeedFrames.error(code: refusal.code, message: refusal.message)))
                await sender.close(.init(codeNumber: Int(refusal.closeCode)), reason: refusal.message)
            case .gone:
                try? await sender.channel.close()
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)),
                                  promise: nil)
        case .connectionClose:
            // The browser answers our close: done. Or it closes first: answer with its code, then close (the feed's
            // next write fails and it ends).
            if closeSent.sent.load(ordering: .sequentiallyConsistent) {
                context.close(promise: nil)
                return
            }
            var data = frame.unmaskedData
            let code = data.readSlice(length: 2) ?? ByteBuffer()
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
                .whenComplete { _ in channel.close(promise: nil) }
        case .text, .binary, .continuation:
            guard takesInput else { return }
            var data = frame.unmaskedData
            let bytes = data.readBytes(length: data.readableBytes) ?? []
            var message: (text: Bool, bytes: [UInt8])
            if frame.opcode == .continuation {
                guard let partial else { return context.close(promise: nil) }   // a continuation of nothing
                message = (partial.text, partial.bytes + bytes)
            } else {
                message = (frame.opcode == .text, bytes)
            }
            guard message.bytes.count <= maxMessageBytes else {
                partial = nil
                return context.close(promise: nil)
            }
            guard frame.fin else {
                partial = message
                return
            }
            partial = nil
            inbound?.deliver(message.text ? .text(String(decoding: message.bytes, as: UTF8.self))
                                          : .binary(message.bytes))
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        inbound?.deliver(.closed)
        ListenerAdmission.requestFinished(on: context.channel)
        context.fireChannelInactive()
    }
}

/// The browser's data frames for a feed that reads them (a push), in order. The connection stops reading the browser
/// while four wait, so a push whose stream is busy holds the browser back (TCP), rather than buffering its audio.
final class FeedInbound: Sendable {
    enum Message: Sendable {
        case text(String)
        case binary([UInt8])
        /// The connection closed.
        case closed
    }

    private struct State {
        var queue: [Message] = []
        var waiter: CheckedContinuation<Message, Never>?
        var paused = false
    }

    private let channel: any Channel
    private let state = Mutex(State())
    private static let pauseAt = 4

    init(channel: any Channel) { self.channel = channel }

    /// From the connection's event loop.
    func deliver(_ message: Message) {
        let (waiter, pause): (CheckedContinuation<Message, Never>?, Bool) = state.withLock { s in
            if let waiter = s.waiter {
                s.waiter = nil
                return (waiter, false)
            }
            s.queue.append(message)
            guard s.queue.count >= Self.pauseAt, !s.paused else { return (nil, false) }
            s.paused = true
            return (nil, true)
        }
        waiter?.resume(returning: message)
        if pause { channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    /// The next message (`.closed` once the connection closed; feeds that do not read never call this).
    func next() async -> Message {
        await withCheckedContinuation { continuation in
            let (now, resume): (Message?, Bool) = state.withLock { s in
                guard !s.queue.isEmpty else {
                    s.waiter = continuation
                    return (nil, false)
                }
                let message = s.queue.removeFirst()
                guard s.paused, s.queue.count < Self.pauseAt / 2 else { return (message, false) }
                s.paused = false
                return (message, true)
            }
            if resume { channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in } }
            if let now { continuation.resume(returning: now) }
        }
    }
}

/// Whether the server has sent its close frame, shared by a feed's sender and its connection's handler.
final class CloseFlag: Sendable {
    let sent = Atomic(false)
}
