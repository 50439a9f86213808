import ConnectionAdmission
import EarshotTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves `GET /metrics` (Prometheus text format 0.0.4) on `--metrics-address HOST:PORT`, as a `Service`. Every scrape
/// reads the status once; nothing else is served (404), and only GET and HEAD are answered (405). Connections are
/// capped and closed by ``ListenerAdmission``'s deadlines (a request's header must be complete within the first-request
/// timeout; a keep-alive connection with no request for the idle timeout is closed).
package final class MetricsServer: Service, Sendable {
    private let host: String
    private let port: Int
    /// The listener's connection cap and deadlines (and counts, for tests).
    package let admission: ListenerAdmission
    private let metrics: StatusMetrics
    private let status: @Sendable () -> DaemonStatus
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    package init(host: String, port: Int, limits: AdmissionLimits, metrics: StatusMetrics, logger: Logger,
                 status: @escaping @Sendable () -> DaemonStatus,
                 onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.host = host
        self.port = port
        admission = ListenerAdmission(name: "metrics", limits: limits, onEvent: logger.admissionEvents("metrics"))
        self.metrics = metrics
        self.status = status
        self.logger = logger
        self.onListening = onListening
    }

    package func run() async throws {
        let metrics = self.metrics, status = self.status, admission = self.admission
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
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(ScrapeHandler(metrics: metrics, status: status))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            throw MetricsAddressError("--metrics-address \(host):\(port): cannot listen: \(error)")
        }
        if let address = channel.localAddress { onListening(address) }
        logger.info("serving metrics", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                                                  "path": "/metrics"])
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// A metrics address that cannot be used.
package struct MetricsAddressError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP connection of a scraper.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: StatusMetrics
    private let status: @Sendable () -> DaemonStatus
    private var request: HTTPRequestHead?

    init(metrics: StatusMetrics, status: @escaping @Sendable () -> DaemonStatus) {
        self.metrics = metrics
        self.status = status
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

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let (code, contentType, body): (HTTPResponseStatus, String, [UInt8])
        if head.method != .GET && head.method != .HEAD {
            (code, contentType, body) = (.methodNotAllowed, "text/plain", Array("only GET\n".utf8))
        } else if path != "/metrics" {
            (code, contentType, body) = (.notFound, "text/plain", Array("earshotd serves /metrics only\n".utf8))
        } else {
            (code, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8",
                                         metrics.exposition(of: status()))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
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
