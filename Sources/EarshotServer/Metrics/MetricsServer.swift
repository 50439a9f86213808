import ConnectionAdmission
import EarshotTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves, on `--metrics-address HOST:PORT`, as a `Service`:
/// - `/metrics`: Prometheus text format 0.0.4; every scrape reads the status once;
/// - `/healthz`: 200 `ok` whenever the listener answers (liveness);
/// - `/readyz`: 200 `ready`, or 503 and the reason the daemon's readiness closure gives (`draining` once a stop
///   has begun).
///
/// GET and HEAD (the same answer without a body) only: other methods get 405 with `Allow`; other paths 404.
/// Connections are capped and closed by ``ListenerAdmission``'s deadlines (a request's header must be complete
/// within the first-request timeout; a keep-alive connection with no request for the idle timeout is closed).
package final class MetricsServer: Service, Sendable {
    private let host: String
    private let port: Int
    /// The listener's connection cap and deadlines (and counts, for tests).
    package let admission: ListenerAdmission
    private let metrics: StatusMetrics
    private let status: @Sendable () -> DaemonStatus
    private let readiness: @Sendable () -> Readiness
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    /// `status` is read once per scrape of `/metrics`, `readiness` once per `/readyz`; `onListening` gets the bound
    /// address (port 0 picks one).
    package init(host: String, port: Int, limits: AdmissionLimits, metrics: StatusMetrics, logger: Logger,
                 status: @escaping @Sendable () -> DaemonStatus,
                 readiness: @escaping @Sendable () -> Readiness,
                 onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.host = host
        self.port = port
        admission = ListenerAdmission(name: "metrics", limits: limits, onEvent: logger.admissionEvents("metrics"))
        self.metrics = metrics
        self.status = status
        self.readiness = readiness
        self.logger = logger
        self.onListening = onListening
    }

    package func run() async throws {
        let metrics = self.metrics, status = self.status, readiness = self.readiness, admission = self.admission
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { listener in
                    admission.install(on: listener).flatMap {
                        ListenerAdmission.installAcceptBackoff(on: listener)
                    }
                }
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                        // On the channel's event loop: the handler never leaves it.
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPEndpointHandler(metrics: metrics, status: status, readiness: readiness))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw MetricsAddressError("--metrics-address \(host):\(port): cannot listen: \(error)")
        }
        if let address = channel.localAddress { onListening(address) }
        logger.info("serving metrics", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                                                  "paths": "/metrics /healthz /readyz"])
        // Cancellation closes it too: the daemon stops this listener after the others have drained, so a stop that
        // overruns its time cancels it before its graceful shutdown comes.
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// A metrics address that cannot be used.
package struct MetricsAddressError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP connection of a scraper or a probe.
private final class HTTPEndpointHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: StatusMetrics
    private let status: @Sendable () -> DaemonStatus
    private let readiness: @Sendable () -> Readiness
    private var request: HTTPRequestHead?

    init(metrics: StatusMetrics, status: @escaping @Sendable () -> DaemonStatus,
         readiness: @escaping @Sendable () -> Readiness) {
        self.metrics = metrics
        self.status = status
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            // A request counts from its last byte: a header or body sent slowly is not one yet.
            ListenerAdmission.requestStarted(on: context.channel)
            respond(to: head, context: context)
        }
    }

    private static let paths = ["/metrics", "/healthz", "/readyz"]
    private static let plainText = "text/plain; charset=utf-8"

    /// What to answer: the status code, the body's type, the body (sent for GET, left out for HEAD) and any extra
    /// header. Only the requested endpoint is evaluated: a probe does not read the status, a scrape not readiness.
    private func answer(_ head: HTTPRequestHead)
        -> (code: HTTPResponseStatus, contentType: String, body: [UInt8], extra: [(String, String)]) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard Self.paths.contains(path) else {
            return (.notFound, Self.plainText,
                    Array("earshotd serves \(Self.paths.joined(separator: ", ")) only\n".utf8), [])
        }
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, Self.plainText, Array("\(path) answers GET and HEAD only\n".utf8),
                    [("Allow", "GET, HEAD")])
        }
        switch path {
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition(of: status()), [])
        case "/healthz":
            return (.ok, Self.plainText, Array("ok\n".utf8), [])
        default:
            switch readiness() {
            case .ready:
                return (.ok, Self.plainText, Array("ready\n".utf8), [])
            case .notReady(let reason):
                return (.serviceUnavailable, Self.plainText, Array("\(reason)\n".utf8), [])
            }
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (code, contentType, body, extra) = answer(head)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        for (name, value) in extra { headers.add(name: name, value: value) }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: code, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))),
                          promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            ListenerAdmission.requestFinished(on: context.channel)
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
