import ClientSessions
import ConnectionAdmission
@testable import EarshotGRPC
import EarshotTypes
import QueuePolicies
import Synchronization
import Testing

/// A call's queue and outbox: the session layer's ``Outbox`` with the gRPC items.
@Suite struct CallQueueTests {
    private func token(_ index: UInt64, credit: (any TokenCredit)? = nil) -> SessionToken {
        SessionToken(TestBackend.token(index, capture: 0, flags: [], values: [Float(index)]), credit: credit)
    }

    private func live(_ index: UInt64) -> CallItem { .token(token(index)) }

    private func pushed(_ index: UInt64, credit: any TokenCredit) -> CallItem { .token(token(index, credit: credit)) }

    private func describe(_ item: CallItem?) -> String {
        switch item {
        case .token(let t): "\(t.credit == nil ? "live" : "pushed") \(t.info.index)"
        case .event(let e): "event \(e.kind)"
        case nil: "nil"
        }
    }

    /// Records the rooms it is resumed with.
    final class Resumes: ClientSessions.Subscription {
        let stream = "mic"
        let firstToken: UInt64 = 0
        let rooms = Mutex<[Int]>([])
        func cancel(reason: String) {}
        func resume(room: Int) { rooms.withLock { $0.append(room) } }
    }

    @Test func liveTokensPastTheCapacityAreRefusedAndLaggedEventsCountTheLoss() {
        var queue = SendQueue<CallItem>(liveCapacity: 2, hardLimit: 10)
        #expect(queue.push(live((0))) == .enqueued)
        #expect(queue.push(live((1))) == .enqueued)
        #expect(queue.push(live((2))) == .full)
        #expect(queue.push(.event(EventInfo(.speechStart, at: 5))) == .enqueued)
        #expect(!queue.hasLiveRoom)
        #expect(describe(queue.pop()) == "live 0")
        #expect(queue.hasLiveRoom, "half the live queue read: the subscription may resume")
        #expect(queue.push(.event(EventInfo(.lagged, at: 2, count: 7))) == .enqueued)
        #expect(queue.push(live((9))) == .enqueued)
        #expect(queue.drain().map(describe) == ["live 1", "event speechStart", "event lagged", "live 9"])
        #expect(queue.droppedTotal == 7)
        #expect(queue.isEmpty)
    }

    /// A call that refuses a live token has its subscription resumed once the caller has read half its queue, with
    /// the room it has then; not before, and once.
    @Test func theOutboxResumesItsSubscriptionWhenHalfItsQueueIsRead() async throws {
        let outbox = Outbox<CallItem>(liveCapacity: 4, hardLimit: 16)
        let subscription = Resumes()
        let receiver = CallItem.receiver(outbox)
        receiver.attach(subscription)
        for i in 0..<4 { #expect(receiver.live(token(UInt64(i)))) }
        #expect(!receiver.live(token(4)), "refused: the queue is full")
        #expect(describe(try await outbox.next()) == "live 0")
        #expect(subscription.rooms.withLock { $0 }.isEmpty, "three of four still queued")
        #expect(describe(try await outbox.next()) == "live 1")
        #expect(subscription.rooms.withLock { $0 } == [2], "half read: resumed with room for two")
        #expect(describe(try await outbox.next()) == "live 2")
        #expect(subscription.rooms.withLock { $0 } == [2], "once per refusal")
        outbox.close()
    }

    @Test func pushedTokensAndEventsAreNeverDroppedButHaveAHardLimit() {
        final class Credit: TokenCredit { func tokenSent() {} }
        var queue = SendQueue<CallItem>(liveCapacity: 1, hardLimit: 3)
        for i in 0..<3 { #expect(queue.push(pushed(UInt64(i), credit: Credit())) == .enqueued) }
        #expect(queue.push(.event(EventInfo(.ended))) == .overLimit)
        #expect(queue.push(live((9))) == .enqueued)
        #expect(queue.push(live((10))) == .full)
        #expect(describe(queue.pop()) == "pushed 0")
        #expect(queue.push(.event(EventInfo(.ended))) == .enqueued)
        #expect(queue.drain().map(describe) == ["pushed 1", "pushed 2", "live 9", "event ended"])
    }

    /// The daemon stops under a subscriber: it gets what was queued, then the error; later tokens are not queued.
    @Test func failingAfterQueuedWritesTheQueueFirst() async throws {
        struct Stopping: Error {}
        let outbox = Outbox<CallItem>(liveCapacity: 4, hardLimit: 16)
        let receiver = CallItem.receiver(outbox)
        #expect(receiver.live(token(0)))
        receiver.event(EventInfo(.speechStart))
        outbox.failAfterQueued(Stopping())
        #expect(!receiver.live(token(1)), "after the failure nothing more is queued")
        #expect(describe(try await outbox.next()) == "live 0")
        #expect(describe(try await outbox.next()) == "event speechStart")
        await #expect(throws: Stopping.self) { try await outbox.next() }
        // A writer waiting on an empty queue (or about to) gets the error at once.
        let waiting = Outbox<CallItem>(liveCapacity: 4, hardLimit: 16)
        async let next = waiting.next()
        waiting.failAfterQueued(Stopping())
        do {
            _ = try await next
            Issue.record("the waiting writer got no error")
        } catch {
            #expect(error is Stopping)
        }
    }

    @Test func outboxHoldsItemsUntilOpenAndReleasesCreditsOfWhatItNeverWrote() async throws {
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        final class Credit: TokenCredit {
            let counter: Counter
            init(_ counter: Counter) { self.counter = counter }
            func tokenSent() { counter.value.add(1, ordering: .relaxed) }
        }
        let released = Counter()
        let outbox = Outbox<CallItem>(liveCapacity: 4, hardLimit: 16, open: false)
        outbox.push(pushed(0, credit: Credit(released)))
        outbox.push(pushed(1, credit: Credit(released)))
        outbox.open()
        #expect(describe(try await outbox.next()) == "pushed 0")
        outbox.close()
        #expect(released.value.load(ordering: .relaxed) == 1)             // token 1, never written
        outbox.push(pushed(2, credit: Credit(released)))            // after the end: released at once
        #expect(released.value.load(ordering: .relaxed) == 2)
        #expect(try await outbox.next() == nil)
    }

    @Test func bearerTokensCompareWholly() {
        #expect(BearerToken.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!BearerToken.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!BearerToken.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!BearerToken.constantTimeEqual([], Array(repeating: 0, count: 256)))
    }
}
