import EarshotGRPC
import EarshotTypes
import Foundation
import GRPCCore
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The server as a `ServiceLifecycle.Service`: a graceful shutdown turns health to NOT_SERVING, ends Watch calls,
/// drains the running calls and stops the server.
@Suite struct GRPCLifecycleTests {
    @Test func gracefulShutdownTellsWatchersAndEnds() async throws {
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let service = try GRPCServerService(configuration: loopback(), sessions: TestBackend(), logger: logger)
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

    /// A push still sending when the daemon stops: it is no longer read, its stream flushes the audio it took (the
    /// zero-padded final token, the events, `ended`), and the call ends UNAVAILABLE, the audio having been cut short.
    @Test func aStopFlushesARunningPushThenEndsItUnavailable() async throws {
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let backend = TestBackend()
        let service = try GRPCServerService(configuration: loopback(), sessions: backend, logger: logger)
        let group = ServiceGroup(services: [service], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await service.listeningPort
            let (hold, release) = AsyncStream.makeStream(of: Void.self)
            let (responses, error) = try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) {
                earshot, _ in
                let all = Mutex<[Earshot_V1_PushResponse]>([])
                do {
                    try await earshot.push(requestProducer: { writer in
                        try await writer.write(.with {
                            $0.start = .with {
                                $0.format = .f32Le
                                $0.sampleRate = 16000
                                $0.channels = 1
                            }
                        })
                        try await writer.write(.with { $0.audio = Data(f32le([1, 2, 3, 4, 5, 6])) })
                        for await _ in hold {}                      // still sending, as far as the server knows
                    }, onResponse: { response in
                        defer { release.finish() }
                        for try await message in response.messages {
                            all.withLock { $0.append(message) }
                            if case .token = message.response { await group.triggerGracefulShutdown() }
                        }
                    })
                    return (all.withLock { $0 }, nil as RPCError?)
                } catch let error as RPCError {
                    return (all.withLock { $0 }, error)
                }
            }
            let tokens = responses.compactMap { r -> [Float]? in
                guard case .token(let t)? = r.response else { return nil }
                return PayloadType.f32.decode([UInt8](t.values)[...], count: Int(t.width))
            }
            #expect(tokens == [[1, 2, 3, 4], [5, 6, 0, 0]])
            #expect(responses.last?.event.kind == .ended)
            #expect(error?.code == .unavailable)
            #expect(error?.message == "the daemon is stopping")
            try await tasks.next()                        // the group (and the server) returns
        }
        #expect(backend.outstandingCredits.load(ordering: .relaxed) == 0)
    }
}
