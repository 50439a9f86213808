import EarshotServer
import EncodingScheduler
import ServiceLifecycle
import Synchronization

/// What `/readyz` says of the daemon. Ready when all of these hold:
/// - the socket server listens (the model was loaded before any listener started; this is when systemd hears
///   READY=1);
/// - the compute threads keep up: the engine's own check, the one the systemd watchdog and gRPC health use;
/// - no stop has begun: ``stopNotice``, the group's last service and so the first to hear a stop, turns this to
///   `draining` before the listeners start to drain.
final class DaemonReadiness: Sendable {
    private struct State {
        var listening = false
        var draining = false
    }

    private let state = Mutex(State())
    private let isHealthy: @Sendable () -> Bool
    /// What `isHealthy` checks, for the reason `/readyz` gives.
    private let unhealthyReason: String

    /// `isHealthy`: false once work has waited more than `healthLimit` for a compute thread.
    init(healthLimit: Duration = Scheduler.healthLimit, isHealthy: @escaping @Sendable () -> Bool) {
        self.isHealthy = isHealthy
        unhealthyReason = "unhealthy: work has waited over \(healthLimit.components.seconds) s for a compute thread"
    }

    /// The socket server accepts connections.
    func listening() { state.withLock { $0.listening = true } }

    /// A stop has begun: not ready from now on.
    func draining() { state.withLock { $0.draining = true } }

    /// The answer now; a stop outranks the rest, and the health check runs only when nothing else says no.
    var current: Readiness {
        let s = state.withLock { $0 }
        if s.draining { return .notReady(reason: "draining") }
        if !s.listening { return .notReady(reason: "starting") }
        if !isHealthy() { return .notReady(reason: unhealthyReason) }
        return .ready
    }

    /// A service that waits for the group's stop and marks it (``draining()``); it holds nothing up. Place it last:
    /// a `ServiceGroup` stops its services in reverse order, so it hears the stop before any other service.
    var stopNotice: some Service { StopNotice(readiness: self) }
}

private struct StopNotice: Service {
    let readiness: DaemonReadiness

    func run() async throws {
        // A cancelled group is stopping too.
        try? await gracefulShutdown()
        readiness.draining()
    }
}
