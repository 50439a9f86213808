import ClientSessions
import ConnectionAdmission
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCore
import ServiceLifecycle

/// The gRPC listener as a `ServiceLifecycle.Service`: `earshot.v1.Earshot` and `grpc.health.v1.Health` on one
/// HTTP/2 server. A graceful shutdown turns health to NOT_SERVING and ends Watch calls, stops accepting, and drains
/// the running calls: each ends UNAVAILABLE (or OK if it was complete) within the calls' drain timeout, and a
/// connection whose final statuses cannot be written (a caller that does not read) is closed shortly after.
package final class GRPCServerService: Service, Sendable {
    package let configuration: GRPCServerConfiguration
    /// Health, for whoever knows better (the daemon may report NOT_SERVING while its model is unhealthy).
    package let health: HealthService
    private let earshot: EarshotService
    private let transport: HTTP2ServerTransport.Posix
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    /// The health-only plain-text listener, if configured.
    private let healthServer: (transport: HTTP2ServerTransport.Posix, server: GRPCServer<HTTP2ServerTransport.Posix>)?
    /// Each listener's connection cap and deadlines (and counts, for tests).
    package let admission: ListenerAdmission
    package let healthAdmission: ListenerAdmission?
    private let logger: Logger

    /// Checks `configuration` (``GRPCServerConfiguration/validated()``); nothing listens until ``run()``.
    package init(configuration: GRPCServerConfiguration, sessions: any SessionHost, logger: Logger) throws {
        self.configuration = try configuration.validated()
        self.logger = logger
        let earshot = EarshotService(sessions: sessions, limits: configuration.limits, logger: logger)
        self.earshot = earshot
        health = HealthService(services: [Earshot_V1_Earshot.descriptor.fullyQualifiedService])
        let admission = ListenerAdmission(name: "grpc", limits: configuration.connections,
                                          onEvent: logger.admissionEvents("grpc"))
        self.admission = admission
        transport = HTTP2ServerTransport.Posix(
            address: try configuration.socketAddress(),
            transportSecurity: configuration.transportSecurity,
            config: .defaults { config in
                config.rpc.maxRequestPayloadSize = configuration.maxRequestBytes
                // Idle connections are closed by the admission's idle deadline alone. Not also by the transport's
                // `maxIdleTime`: grpc-swift-nio-transport 2.9 never releases a connection's handler once that timer
                // exists (it clears the wrong timer on close), ~330 B per connection, which a daemon that sees a
                // connection a second grows by 28 MB a day. (A GOAWAY first would be gentler, but grpc-swift clients
                // answer one by reconnecting at once, holding a slot for nothing until the first-request deadline.)
                config.http2.maxConcurrentStreams = configuration.maxConcurrentStreams
                // Once stopping, the calls end within the drain timeout; a connection still open a little later
                // holds only statuses a caller does not read, and is closed so the daemon can exit.
                config.connection.maxGraceTime = configuration.limits.drainTimeout + Self.statusGrace
                config.channelDebuggingCallbacks = Self.channelCallbacks(admission: admission,
                                                                         maxRequestBytes: configuration.maxRequestBytes)
            })
        var interceptors: [any ServerInterceptor] = []
        if let token = configuration.bearerToken { interceptors.append(BearerTokenInterceptor(token: token)) }
        server = GRPCServer(transport: transport, services: [earshot, health], interceptors: interceptors)
        let health = self.health
        if let address = configuration.healthAddress {
            let admission = ListenerAdmission(name: "grpc-health", limits: configuration.healthConnections,
                                                  onEvent: logger.admissionEvents("grpc-health"))
            let transport = HTTP2ServerTransport.Posix(
                address: try GRPCServerConfiguration(host: address.host, port: address.port).socketAddress(),
                transportSecurity: .plaintext,
                config: .defaults { $0.channelDebuggingCallbacks = Self.channelCallbacks(admission: admission) })
            healthAdmission = admission
            healthServer = (transport, GRPCServer(transport: transport, services: [health]))
        } else {
            healthAdmission = nil
            healthServer = nil
        }
    }

    /// How long after the drain timeout a stopping connection may take to deliver the calls' final statuses.
    static let statusGrace: Duration = .milliseconds(250)

    /// grpc-swift's transport builds each connection's pipeline itself; its channel callbacks are the supported way
    /// in. The listener callback installs the admission gate (cap and deadlines). Each HTTP/2 stream is a request
    /// from its opening to its close and, with `maxRequestBytes`, gets the message-size check first in its pipeline:
    /// the transport answers an oversized message with RST_STREAM CANCEL, `MessageSizeLimitHandler` answers it first
    /// with RESOURCE_EXHAUSTED.
    private static func channelCallbacks(admission: ListenerAdmission, maxRequestBytes: Int? = nil)
        -> HTTP2ServerTransport.Config.ChannelDebuggingCallbacks {
        HTTP2ServerTransport.Config.ChannelDebuggingCallbacks(
            onBindTCPListener: { admission.install(on: $0) },
            onAcceptTCPConnection: nil,
            onAcceptHTTP2Stream: { stream in
                ListenerAdmission.requestStarted(on: stream)
                stream.closeFuture.whenComplete { _ in ListenerAdmission.requestFinished(on: stream) }
                guard let maxRequestBytes else { return stream.eventLoop.makeSucceededVoidFuture() }
                return stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(MessageSizeLimitHandler(limit: maxRequestBytes),
                                                                  position: .first)
                }
            })
    }

    /// The health-only listener's TCP port, once listening (nil without one).
    package var healthPort: Int? {
        get async throws {
            guard let healthServer else { return nil }
            let address = try await healthServer.transport.listeningAddress
            return address.ipv4?.port ?? address.ipv6?.port
        }
    }

    /// The bound address, once listening (with port 0, the port picked). Throws if the server could not bind or
    /// has stopped.
    package var listeningAddress: GRPCNIOTransportCore.SocketAddress {
        get async throws { try await transport.listeningAddress }
    }

    /// The bound TCP port, once listening.
    package var listeningPort: Int {
        get async throws {
            let address = try await listeningAddress
            if let v4 = address.ipv4 { return v4.port }
            if let v6 = address.ipv6 { return v6.port }
            throw GRPCConfigurationError("the gRPC server is not bound to a TCP port")
        }
    }

    package func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.server.serve() }
                if let health = self.healthServer {
                    group.addTask { try await health.server.serve() }
                    group.addTask {
                        let address = try await health.transport.listeningAddress
                        self.logger.info("grpc health listening", metadata: ["address": "\(address)", "tls": "false"])
                    }
                }
                let address = try await self.transport.listeningAddress
                self.logger.info("grpc listening", metadata: [
                    "address": "\(address)", "tls": "\(self.configuration.usesTLS)",
                    "mtls": "\(self.configuration.clientCAPath != nil)",
                    "token": "\(self.configuration.bearerToken != nil)"])
            }
        } onGracefulShutdown: {
            self.shutDown()
        }
    }

    /// Starts the graceful shutdown ``run()`` performs on the service group's signal; `run()` returns once it is
    /// done. This, not cancelling `run()`, is how the server stops: a cancelled listener drops connections it has
    /// accepted but not yet served, and NIO traps on the dropped channels (apple/swift-nio#2813).
    package func shutDown() {
        health.shutDown()
        earshot.stop()
        server.beginGracefulShutdown()
        healthServer?.server.beginGracefulShutdown()
        // Connections without a call do not hold the shutdown up (a client that never called ignores GOAWAY).
        admission.quiesce()
        healthAdmission?.quiesce()
    }
}
