import Foundation

/// The daemon's file descriptors against its limit (RLIMIT_NOFILE): every connection holds one, and a process out of
/// descriptors cannot accept, open a model or log. The connection caps must fit below the limit with room for
/// everything else, so that a flood of connections meets a cap, never EMFILE.
///
/// Budget: `max-clients` (the socket's clients; gRPC calls share them but ride on gRPC connections) + each TCP
/// listener's cap (`grpc-max-connections`, `grpc-health-max-connections`, `metrics-max-connections`, `http-max-connections`, for the listeners
/// that are on) + ``reserved``.
package enum FileBudget {
    /// Descriptors for everything but connections: standard streams, the listeners, NIO's event loops (an epoll, an
    /// eventfd and a timerfd each), the model and VAD files while they load, capture devices, systemd's sockets and a
    /// connection over a cap held for the instant it takes to close it. A running earshotd with its listeners, on 2
    /// CPUs, holds 24 (measured: /proc/PID/fd with socket, gRPC, gRPC health and metrics listening).
    package static let reserved = 64

    /// The descriptors the configuration's caps need, itemised for the error message.
    package static func needs(_ c: DaemonConfiguration) -> [(setting: String, descriptors: Int)] {
        var items = [("max-clients", c.maxClients)]
        if c.grpcAddress != nil { items.append(("grpc-max-connections", c.grpcMaxConnections)) }
        if c.grpcAddress != nil, c.grpcHealthAddress != nil {
            items.append(("grpc-health-max-connections", c.grpcHealthMaxConnections))
        }
        if c.metricsAddress != nil { items.append(("metrics-max-connections", c.metricsMaxConnections)) }
        if c.httpAddress != nil { items.append(("http-max-connections", c.httpMaxConnections)) }
        items.append(("reserved", reserved))
        return items
    }

    /// Refuses caps that do not fit below `limit` (the soft RLIMIT_NOFILE), naming each.
    package static func check(_ c: DaemonConfiguration, limit: Int) throws(DaemonError) {
        let items = needs(c)
        let total = items.reduce(0) { $0 + $1.descriptors }
        guard total > limit else { return }
        let parts = items.map { "\($0.setting) \($0.descriptors)" }.joined(separator: " + ")
        throw DaemonError("""
            the connection caps need \(total) file descriptors (\(parts)) but the file limit (RLIMIT_NOFILE) is \
            \(limit): raise it (LimitNOFILE= in the unit, ulimit -n) or lower the caps
            """)
    }

    /// Raises the soft limit to the hard one (what the caps are checked against) and returns it. The hard limit is
    /// the administrator's; the soft one is only a default that select()-era programs needed low.
    package static func raiseSoftLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return Int.max }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return limits.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limits.rlim_cur)
    }

    /// The soft limit now, without changing it (for SIGHUP's check).
    package static func currentLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return Int.max }
        return limits.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limits.rlim_cur)
    }
}
