import EarshotGRPC
import Logging
import ServiceLifecycle
import Testing

/// The server as a `ServiceLifecycle.Service`: a graceful shutdown turns health to NOT_SERVING, ends Watch calls and
/// stops the server.
@Suite struct GRPCLifecycleTests {
    @Test func gracefulShutdownTellsWatchersAndEnds() async throws {
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let service = try GRPCServerService(configuration: loopback(), backend: TestBackend(), logger: logger)
        let group = ServiceGroup(services: [service], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await service.listeningPort
            let statuses = try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) { _, health in
                try await health.watch(.with { $0.service = "" }) { response in
                    var statuses: [HealthService.Status] = []
                    for try await message in response.messages {
                        statuses.append(message.status)
                        if statuses.count == 1 { await group.triggerGracefulShutdown() }
                    }
                    return statuses
                }
            }
            #expect(statuses == [.serving, .notServing])
            try await tasks.next()                        // the group (and the server) returns
        }
    }
}
