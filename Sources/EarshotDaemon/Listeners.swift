import ServiceLifecycle

/// The daemon's listeners (the socket server, and the gRPC server and the live view when configured) as one service. A
/// `ServiceGroup` stops its services one after another; as one service, the listeners hear the stop at the same
/// moment (each has its own graceful-shutdown handler), so their drains overlap and the daemon stops within one
/// drain timeout rather than the sum of theirs.
struct Listeners: Service {
    let services: [any Service]

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for service in services {
                group.addTask { try await service.run() }
            }
        }
    }
}
