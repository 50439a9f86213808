import Gemma4Audio
import Testing
@testable import EarshotServer
import WireProtocol

/// Live fan-out: history, subscribers at different start points, slow subscribers that lose only their own frames.
@Suite struct StreamHubTests {
    func block(_ tokens: Range<UInt64>) -> EncodedBlock {
        return EncodedBlock(tokens: .zeros(count: tokens.count), infos: tokens.map {
            TokenInfo(index: $0, firstSample: Int64($0) * 640, captureTimeNanoseconds: 0, flags: [])
        })
    }

    /// Token indices and event kinds an outbox yields right now.
    func drain(_ outbox: ClientOutbox) async -> [String] {
        outbox.finish()
        var out: [String] = []
        while let item = await outbox.next() {
            switch item {
            case .live(_, let r, _, _), .pushed(_, let r, _, _, _): out.append("\(r.info.index)")
            case .message(.event(let e)): out.append("\(e.kind)\(e.kind == .lagged ? " \(e.count)@\(e.at)" : "")")
            case .message(let m): out.append(m.type.name)
            }
        }
        return out
    }

    @Test func subscribersStartNowOrFromTheOldestHeld() async {
        let hub = StreamHub(name: "mic", historyCapacity: 4)
        hub.deliver(block(0..<6))
        let now = ClientOutbox(liveCapacity: 100, hardLimit: 100)
        let oldest = ClientOutbox(liveCapacity: 100, hardLimit: 100)
        var announced: [UInt64] = []
        announced.append(hub.subscribe(.init(outbox: now, stream: 1, payload: .f32, output: .embeddings), start: .now))
        hub.subscribe(.init(outbox: oldest, stream: 1, payload: .f32, output: .embeddings), start: .oldest) {
            announced.append($0)
        }
        #expect(announced == [6, 2])
        hub.deliver(block(6..<8))
        hub.ended(totalTokens: 8)
        #expect(await drain(now) == ["6", "7", "ended"])
        #expect(await drain(oldest) == ["2", "3", "4", "5", "6", "7", "ended"])
    }

    @Test func aSlowSubscriberLosesOnlyItsOwnOldestFrames() async {
        let hub = StreamHub(name: "mic", historyCapacity: 0)
        let fast = ClientOutbox(liveCapacity: 100, hardLimit: 100)
        let slow = ClientOutbox(liveCapacity: 3, hardLimit: 100)
        hub.subscribe(.init(outbox: fast, stream: 1, payload: .f32, output: .embeddings), start: .now)
        hub.subscribe(.init(outbox: slow, stream: 9, payload: .f16, output: .encoder), start: .now)
        for k in 0..<10 { hub.deliver(block(UInt64(k * 2)..<UInt64(k * 2 + 2))) }
        #expect(await drain(fast) == (0..<20).map { "\($0)" })
        #expect(await drain(slow) == ["lagged 17@0", "17", "18", "19"])
    }

    @Test func subscribingAfterTheEndGetsHistoryAndEnded() async {
        let hub = StreamHub(name: "file", historyCapacity: 10)
        hub.deliver(block(0..<3))
        hub.ended(totalTokens: 3)
        let late = ClientOutbox(liveCapacity: 100, hardLimit: 100)
        hub.subscribe(.init(outbox: late, stream: 1, payload: .f32, output: .embeddings), start: .oldest)
        #expect(await drain(late) == ["0", "1", "2", "ended"])
        #expect(hub.subscriberCount == 0)
    }

    @Test func unsubscribeSaysEnded() async {
        let hub = StreamHub(name: "mic", historyCapacity: 0)
        let outbox = ClientOutbox(liveCapacity: 100, hardLimit: 100)
        hub.subscribe(.init(outbox: outbox, stream: 4, payload: .f32, output: .embeddings), start: .now)
        hub.deliver(block(0..<1))
        hub.unsubscribe(outbox: outbox, stream: 4, reason: "unsubscribed")
        hub.deliver(block(1..<2))
        #expect(await drain(outbox) == ["0", "ended"])
    }
}
