@testable import ConnectionAdmission
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The deadline handler on an embedded channel, whose loop's clock is virtual: the deadlines are exact, and no test
/// waits for real time.
@Suite struct DeadlineHandlerTests {
    let limits = AdmissionLimits(maxConnections: 4, firstRequestTimeout: .seconds(10), idleTimeout: .seconds(300))

    final class Events: Sendable {
        private let list = Mutex<[ListenerAdmission.Event]>([])
        func append(_ event: ListenerAdmission.Event) { list.withLock { $0.append(event) } }
        var all: [ListenerAdmission.Event] { list.withLock { $0 } }
    }

    /// An active embedded connection with the handler first, and the events the admission reported.
    func connection() throws -> (EmbeddedChannel, EmbeddedEventLoop, Events) {
        let events = Events()
        let admission = ListenerAdmission(name: "test", limits: limits) { events.append($0) }
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(handler: DeadlineHandler(admission: admission), loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, loop, events)
    }

    @Test func aSilentConnectionIsClosedAtTheFirstRequestDeadlineAndNotBefore() throws {
        let (channel, loop, events) = try connection()
        loop.advanceTime(by: .seconds(10) - .nanoseconds(1))
        #expect(channel.isActive)
        loop.advanceTime(by: .nanoseconds(1))
        #expect(!channel.isActive)
        #expect(events.all == [.expired(reason: "no request within 10 s of connecting")])
    }

    @Test func aRequestHoldsTheConnectionAndItsEndStartsTheIdleDeadline() throws {
        let (channel, loop, events) = try connection()
        loop.advanceTime(by: .seconds(9))
        ListenerAdmission.requestStarted(on: channel)
        loop.advanceTime(by: .seconds(3600))
        #expect(channel.isActive, "an open request (a long Subscribe) is never idle")
        ListenerAdmission.requestFinished(on: channel)
        loop.advanceTime(by: .seconds(299))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
        #expect(events.all == [.expired(reason: "no request for 300 s")])
    }

    @Test func bytesAloneDoNotCountAsARequest() throws {
        let (channel, loop, _) = try connection()
        for _ in 0..<10 {
            loop.advanceTime(by: .seconds(1))
            if channel.isActive { try channel.writeInbound(channel.allocator.buffer(string: "G")) }
        }
        #expect(!channel.isActive, "a header sent a byte a second is closed at the first-request deadline")
        _ = try? channel.finish()
    }

    @Test func quiescingClosesAConnectionWithNoRequestOpenAndLeavesABusyOneToItsListener() throws {
        let (idle, _, _) = try connection()
        try idle.pipeline.syncOperations.handler(type: DeadlineHandler.self).quiesce()
        #expect(!idle.isActive)

        let (busy, loop, _) = try connection()
        ListenerAdmission.requestStarted(on: busy)
        try busy.pipeline.syncOperations.handler(type: DeadlineHandler.self).quiesce()
        loop.run()
        #expect(busy.isActive, "a request in progress finishes; the listener's own drain (GOAWAY) closes it")
        ListenerAdmission.requestFinished(on: busy)
        loop.advanceTime(by: .seconds(300))
        #expect(!busy.isActive, "and if the client ignores that, the idle deadline")
    }
}
