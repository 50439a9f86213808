import ClientSessions
import EarshotTypes
import LiveView
import Logging
import ServiceLifecycle
import Testing

/// A stop drains the feeds: each gets what is queued, then a 1001 close, and new ones are turned away.
@Suite struct LiveViewShutdownTests {
    @Test func aStopSendsWhatIsQueuedThenGoingAway() async throws {
        let sessions = ScriptedSessions()
        let ports = AsyncStream<Int>.makeStream()
        let server = try LiveViewServer(configuration: LiveViewConfiguration(address: ListenAddress(host: "127.0.0.1",
                                                                                                    port: 0)),
                                        sessions: sessions, spectrogram: nil, logger: Logger(label: "test")) {
            ports.continuation.yield($0.port ?? 0)
        }
        let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.stream.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let connection = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/ws").connection)
            guard case .text? = await connection.message() else { throw LiveViewTestFailure("no start") }
            let receiver = try await sessions.subscribers(1)[0]
            #expect(receiver.live(ScriptedSessions.token(0, values: [1, 2, 3])))
            await group.triggerGracefulShutdown()
            guard case .text(let header)? = await connection.message() else { throw LiveViewTestFailure("no token") }
            #expect(header.hasPrefix(#"{"token":0,"#))
            #expect(await connection.message() == .binary([0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40]))
            #expect(await connection.message() == .close(1001))
            try await tasks.waitForAll()
        }
        #expect(sessions.cancelled.load(ordering: .relaxed) == 1)
    }
}
