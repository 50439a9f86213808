import ConnectionAdmission
import EarshotGRPC
import ServiceLifecycle

extension DaemonConfiguration {
    /// The gRPC listener's settings (issue #14), or nil when `grpc-address` is not set: the address, TLS files and
    /// token file checked and read, and the socket's limits (clients, send queue, idle timeout, frame size) carried
    /// over so both transports admit and queue alike.
    package func grpcServerConfiguration() throws(DaemonError) -> GRPCServerConfiguration? {
        guard let grpcAddress else {
            let stray = [("grpc-tls-cert", grpcTLSCert), ("grpc-tls-key", grpcTLSKey),
                         ("grpc-client-ca", grpcClientCA), ("grpc-token-file", grpcTokenFile),
                         ("grpc-health-address", grpcHealthAddress?.description)]
                .filter { $0.1 != nil }.map(\.0)
            if !stray.isEmpty || grpcAllowPlaintext {
                throw DaemonError("\((stray + (grpcAllowPlaintext ? ["grpc-allow-plaintext"] : [])).joined(separator: ", ")) "
                                  + "without grpc-address: gRPC is off")
            }
            return nil
        }
        do {
            var c = try GRPCServerConfiguration(address: grpcAddress)
            c.tlsCertificatePath = grpcTLSCert
            c.tlsKeyPath = grpcTLSKey
            c.clientCAPath = grpcClientCA
            c.allowPlaintextNonLoopback = grpcAllowPlaintext
            c.healthAddress = grpcHealthAddress
            if let grpcTokenFile { c.bearerToken = try BearerTokenInterceptor.readToken(file: grpcTokenFile) }
            c.limits.liveQueueTokens = sendQueueFrames
            c.limits.drainTimeout = Daemon.drainTimeout
            c.limits.startTimeout = .milliseconds(Int64(idleTimeout * 1000))
            c.maxRequestBytes = maxFrameBytes
            c.connections = admissionLimits(maxConnections: grpcMaxConnections)
            c.healthConnections = admissionLimits(maxConnections: grpcHealthMaxConnections)
            return try c.validated()
        } catch {
            throw DaemonError("\(error)")
        }
    }
}

extension DaemonConfiguration {
    /// A TCP listener's cap, with the socket's deadlines: the first request within `helloTimeout`, and
    /// `idleTimeout` with no request open.
    package func admissionLimits(maxConnections: Int) -> AdmissionLimits {
        AdmissionLimits(maxConnections: maxConnections,
                        firstRequestTimeout: .milliseconds(Int64(helloTimeout * 1000)),
                        idleTimeout: .milliseconds(Int64(idleTimeout * 1000)))
    }
}

/// Keeps gRPC health's overall status ("", what liveness probes ask) on the engine's own health check, the one the
/// systemd watchdog uses: NOT_SERVING while work waits more than 10 s for a compute thread. Checked once a second.
struct GRPCHealthFollower: Service {
    let health: HealthService
    let isHealthy: @Sendable () -> Bool

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            health.set(isHealthy() ? .serving : .notServing)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            } catch {
                return
            }
        }
    }
}
