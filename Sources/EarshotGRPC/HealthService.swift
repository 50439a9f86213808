import GRPCCore
import Synchronization

/// `grpc.health.v1.Health` (proto/grpc/health/v1/health.proto), for load balancers and probes: Check and Watch.
///
/// Knows the overall status (service name "") and one status per registered service name. Unknown names: Check is
/// NOT_FOUND; Watch answers SERVICE_UNKNOWN and keeps watching, as the protocol says.
package final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    package typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    private struct State {
        var statuses: [String: Status]
        var watchers: [Int: (service: String, continuation: AsyncStream<Status>.Continuation)] = [:]
        var nextWatcher = 0
    }

    private let state: Mutex<State>

    /// `services`: the fully qualified names served; each starts with `initial`, as does the overall status.
    package init(services: [String], initial: Status = .serving) {
        var statuses = ["": initial]
        for name in services { statuses[name] = initial }
        state = Mutex(State(statuses: statuses))
    }

    /// Sets the status of `service` ("" for the server as a whole) and tells its watchers if it changed.
    package func set(_ status: Status, for service: String = "") {
        let watchers = state.withLock { s -> [AsyncStream<Status>.Continuation] in
            guard s.statuses[service] != status else { return [] }
            s.statuses[service] = status
            return s.watchers.values.filter { $0.service == service }.map(\.continuation)
        }
        for watcher in watchers { watcher.yield(status) }
    }

    /// Sets every known status (the server is stopping: NOT_SERVING, so balancers move away before it closes).
    package func setAll(_ status: Status) {
        let names = state.withLock { Array($0.statuses.keys) }
        for name in names { set(status, for: name) }
    }

    /// The server is stopping: everything NOT_SERVING, then every Watch call ends (so they do not hold up a graceful
    /// shutdown).
    package func shutDown() {
        setAll(.notServing)
        let watchers = state.withLock { s in
            defer { s.watchers.removeAll() }
            return s.watchers.values.map(\.continuation)
        }
        for watcher in watchers { watcher.finish() }
    }

    package func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws
        -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = state.withLock({ $0.statuses[request.service] }) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        return .with { $0.status = status }
    }

    package func watch(request: Grpc_Health_V1_HealthCheckRequest,
                       response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>, context: ServerContext) async throws {
        // Newest status wins: a watcher that reads slowly gets the latest, not a backlog.
        let (updates, continuation) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { s in
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = (request.service, continuation)
            continuation.yield(s.statuses[request.service] ?? .serviceUnknown)
            return id
        }
        defer {
            _ = state.withLock { $0.watchers.removeValue(forKey: id) }
            continuation.finish()
        }
        var last: Status?
        for await status in updates where status != last {
            last = status
            try await response.write(.with { $0.status = status })
        }
    }
}
