import ClientSessions
import EarshotTypes
import EncodingScheduler
import Gemma4Audio
import QueuePolicies
import Testing
@testable import EarshotServer
import WireProtocol

/// The send-queue policy, as a value: live tokens bounded (refused past the capacity; the hub reports the loss when
/// the subscription resumes), everything else kept up to a hard limit.
@Suite struct OutboxQueueTests {
    func live(_ stream: UInt32, _ token: UInt64) -> SocketItem {
        .token(stream: stream, SessionToken(.fake(token)), payload: .f32, output: .embeddings)
    }

    func lagged(_ stream: UInt32, count: UInt64, at token: UInt64) -> SocketItem {
        .message(.event(StreamEvent(stream: stream, kind: .lagged, at: Int64(token), count: count)))
    }

    /// What pops out: tokens as "s:t", lag markers as "lag s n@t", messages as their type.
    func drain(_ q: inout SendQueue<SocketItem>) -> [String] {
        var out: [String] = []
        while let item = q.pop() {
            switch item {
            case .token(let s, let t, _, _): out.append("\(s):\(t.info.index)")
            case .message(.event(let e)) where e.kind == .lagged: out.append("lag \(e.stream) \(e.count)@\(e.at)")
            case .message(let m): out.append(m.type.name)
            }
        }
        return out
    }

    /// A popped item is gone from the queue: a pushed token's stream (which refers back to the outbox through its
    /// sink) must not stay alive because the writer already sent it.
    @Test func poppedItemsAreReleased() {
        final class Credit: TokenCredit {
            func tokenSent() {}
        }
        var q = SendQueue<SocketItem>(liveCapacity: 4, hardLimit: 10)
        weak var released: Credit?
        do {
            let credit = Credit()
            released = credit
            _ = q.push(.token(stream: 1, SessionToken(.fake(0), credit: credit), payload: .f32, output: .embeddings))
            _ = q.push(live(2, 0))
        }
        #expect(released != nil)
        #expect(drain(&q) == ["1:0", "2:0"])
        #expect(released == nil, "the queue still holds a popped item")
    }

    @Test func keepsEverythingUnderCapacity() {
        var q = SendQueue<SocketItem>(liveCapacity: 4, hardLimit: 10)
        for t in 0..<4 { #expect(q.push(live(1, UInt64(t))) == .enqueued) }
        #expect(drain(&q) == ["1:0", "1:1", "1:2", "1:3"])
        #expect(q.droppedTotal == 0)
    }

    /// Live tokens past the capacity are refused (the hub then skips the subscription); the queued ones stay.
    @Test func refusesLiveTokensPastCapacityAndKeepsTheQueuedOnes() {
        var q = SendQueue<SocketItem>(liveCapacity: 3, hardLimit: 10)
        for t in 0..<3 { #expect(q.push(live(1, UInt64(t))) == .enqueued) }
        #expect(q.push(live(1, 3)) == .full)
        #expect(q.push(live(2, 0)) == .full)
        #expect(!q.hasLiveRoom)
        _ = q.pop()
        #expect(!q.hasLiveRoom)   // room again only at half the capacity: a resumed subscription does not flap
        _ = q.pop()
        #expect(q.hasLiveRoom)
        #expect(q.push(lagged(1, count: 4, at: 3)) == .enqueued)
        #expect(drain(&q) == ["1:2", "lag 1 4@3"])
        #expect(q.droppedTotal == 4)
    }

    @Test func messagesAndPushedTokensAreNeverRefusedForLiveRoom() {
        var q = SendQueue<SocketItem>(liveCapacity: 1, hardLimit: 10)
        _ = q.push(.message(.pong(nonce: 1, serverTimeNanoseconds: 0)))
        _ = q.push(live(1, 0))
        #expect(q.push(.token(stream: 2, SessionToken(.fake(0), credit: NoCredit()), payload: .f32, output: .embeddings))
                == .enqueued)
        #expect(q.push(live(1, 1)) == .full)
        _ = q.push(.message(.event(StreamEvent(stream: 1, kind: .ended, count: 2))))
        #expect(drain(&q) == ["pong", "1:0", "2:0", "event"])
    }

    @Test func hardLimitRefusesUndroppableItems() {
        var q = SendQueue<SocketItem>(liveCapacity: 1, hardLimit: 2)
        #expect(q.push(.message(.pong(nonce: 1, serverTimeNanoseconds: 0))) == .enqueued)
        #expect(q.push(.message(.pong(nonce: 2, serverTimeNanoseconds: 0))) == .enqueued)
        #expect(q.push(.message(.pong(nonce: 3, serverTimeNanoseconds: 0))) == .overLimit)
        #expect(q.push(live(1, 0)) == .enqueued)   // live tokens have their own bound
    }

    @Test func survivesLongRuns() {
        var q = SendQueue<SocketItem>(liveCapacity: 8, hardLimit: 10)
        var enqueued = 0, popped = 0
        for t in 0..<10_000 {
            if q.push(live(1, UInt64(t))) == .enqueued { enqueued += 1 }
            if t % 3 == 0, q.pop() != nil { popped += 1 }
        }
        #expect(q.pendingCount == enqueued - popped)
        #expect(q.pendingCount <= 8)
    }
}

final class NoCredit: TokenCredit {
    func tokenSent() {}
}

extension TokenRecord {
    /// A record whose only meaningful field is its token index.
    static func fake(_ token: UInt64) -> TokenRecord {
        let info = TokenInfo(index: token, firstSample: Int64(token) * 640, captureTimeNanoseconds: 0, flags: [])
        return TokenRecord(block: EncodedBlock(tokens: EncodedTokens.single(), infos: [info]), row: 0)
    }
}

extension EncodedTokens {
    /// `count` tokens of width 1, all zero.
    static func zeros(count: Int) -> EncodedTokens {
        var tokens = EncodedTokens(firstToken: 0, encoderWidth: 1, embeddingWidth: 1)
        tokens.count = count
        tokens.encoder = [Float](repeating: 0, count: count)
        tokens.embeddings = [Float](repeating: 0, count: count)
        return tokens
    }

    static func single() -> EncodedTokens { zeros(count: 1) }
}
