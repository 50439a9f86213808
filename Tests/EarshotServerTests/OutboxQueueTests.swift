import EncodingScheduler
import Gemma4Audio
import Testing
@testable import EarshotServer
import WireProtocol

/// The send-queue policy, as a value: live tokens bounded with the oldest dropped and reported in place, everything
/// else kept up to a hard limit.
@Suite struct OutboxQueueTests {
    func live(_ stream: UInt32, _ token: UInt64) -> OutboxItem {
        .live(stream: stream, record: .fake(token), payload: .f32, output: .embeddings)
    }

    /// What pops out: tokens as "s:t", lag markers as "lag s n@t", messages as their type.
    func drain(_ q: inout OutboxQueue) -> [String] {
        var out: [String] = []
        while let item = q.pop() {
            switch item {
            case .live(let s, let r, _, _, _), .pushed(let s, let r, _, _, _): out.append("\(s):\(r.info.index)")
            case .message(.event(let e)) where e.kind == .lagged: out.append("lag \(e.stream) \(e.count)@\(e.at)")
            case .message(let m): out.append(m.type.name)
            }
        }
        return out
    }

    /// A popped item is gone from the queue: a pushed token's stream (which refers back to the outbox through its
    /// sink) must not stay alive because the writer already sent it.
    @Test func poppedItemsAreReleased() {
        final class Credit: PushCredit {
            func tokenSent() {}
        }
        var q = OutboxQueue(liveCapacity: 4, hardLimit: 10)
        weak var released: Credit?
        do {
            let credit = Credit()
            released = credit
            _ = q.push(.pushed(stream: 1, record: .fake(0), payload: .f32, output: .embeddings, credit: credit))
            _ = q.push(live(2, 0))
        }
        #expect(released != nil)
        #expect(drain(&q) == ["1:0", "2:0"])
        #expect(released == nil, "the queue still holds a popped item")
    }

    @Test func keepsEverythingUnderCapacity() {
        var q = OutboxQueue(liveCapacity: 4, hardLimit: 10)
        for t in 0..<4 { #expect(q.push(live(1, UInt64(t))) == .enqueued) }
        #expect(drain(&q) == ["1:0", "1:1", "1:2", "1:3"])
        #expect(q.droppedTotal == 0)
    }

    @Test func dropsTheOldestAndSaysSoWhereTheyWere() {
        var q = OutboxQueue(liveCapacity: 3, hardLimit: 10)
        for t in 0..<7 { _ = q.push(live(1, UInt64(t))) }
        #expect(drain(&q) == ["lag 1 4@0", "1:4", "1:5", "1:6"])
        #expect(q.droppedTotal == 4)
    }

    @Test func twoStreamsKeepSeparateMarkersThatDoNotGrow() {
        var q = OutboxQueue(liveCapacity: 2, hardLimit: 10)
        for t in 0..<50 {
            _ = q.push(live(1, UInt64(t)))
            _ = q.push(live(2, UInt64(t)))
        }
        #expect(q.pendingCount == 4)   // two markers and two tokens, however long it runs
        #expect(drain(&q) == ["lag 1 49@0", "lag 2 49@0", "1:49", "2:49"])
    }

    @Test func messagesAndPushedTokensAreNeverDropped() {
        var q = OutboxQueue(liveCapacity: 1, hardLimit: 10)
        _ = q.push(.message(.pong(nonce: 1, serverTimeNanoseconds: 0)))
        _ = q.push(live(1, 0))
        _ = q.push(.pushed(stream: 2, record: .fake(0), payload: .f32, output: .embeddings, credit: NoCredit()))
        _ = q.push(live(1, 1))
        _ = q.push(.message(.event(StreamEvent(stream: 1, kind: .ended, count: 2))))
        #expect(drain(&q) == ["pong", "lag 1 1@0", "2:0", "1:1", "event"])
    }

    @Test func hardLimitRefusesUndroppableItems() {
        var q = OutboxQueue(liveCapacity: 1, hardLimit: 2)
        #expect(q.push(.message(.pong(nonce: 1, serverTimeNanoseconds: 0))) == .enqueued)
        #expect(q.push(.message(.pong(nonce: 2, serverTimeNanoseconds: 0))) == .enqueued)
        #expect(q.push(.message(.pong(nonce: 3, serverTimeNanoseconds: 0))) == .overLimit)
        #expect(q.push(live(1, 0)) == .enqueued)   // live tokens have their own bound
    }

    @Test func dropAfterPartialDrainStartsANewMarker() {
        var q = OutboxQueue(liveCapacity: 2, hardLimit: 10)
        for t in 0..<4 { _ = q.push(live(1, UInt64(t))) }   // drops 0, 1
        #expect(q.pop().map { if case .message = $0 { true } else { false } } == true)
        for t in 4..<6 { _ = q.push(live(1, UInt64(t))) }   // drops 2, 3
        #expect(drain(&q) == ["lag 1 2@2", "1:4", "1:5"])
    }

    @Test func survivesLongRuns() {
        var q = OutboxQueue(liveCapacity: 8, hardLimit: 10)
        var popped = 0
        for t in 0..<10_000 {
            _ = q.push(live(1, UInt64(t)))
            if t % 3 == 0, q.pop() != nil { popped += 1 }
        }
        #expect(q.pendingCount <= 9)
        #expect(q.droppedTotal > 0)
    }
}

final class NoCredit: PushCredit {
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
