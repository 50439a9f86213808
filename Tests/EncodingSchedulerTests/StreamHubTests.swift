import EarshotTypes
import Gemma4Audio
import Synchronization
import Testing
@testable import EncodingScheduler

/// Live fan-out: history, subscribers at different start points, `ended` for late and leaving subscribers, filters.
@Suite struct StreamHubTests {
    func block(_ tokens: Range<UInt64>, flags: TokenFlags = []) -> EncodedBlock {
        var t = EncodedTokens(firstToken: 0, encoderWidth: 1, embeddingWidth: 1)
        t.count = tokens.count
        t.encoder = [Float](repeating: 0, count: tokens.count)
        t.embeddings = t.encoder
        return EncodedBlock(tokens: t, infos: tokens.map {
            TokenInfo(index: $0, firstSample: Int64($0) * 640, captureTimeNanoseconds: 0, flags: flags)
        })
    }

    /// Records what a subscription received: token indices ("3", "h3" when replayed) and event kinds.
    final class Recorder: StreamSubscriber {
        let options: StreamOptions
        private let log = Mutex<[String]>([])

        init(options: StreamOptions = []) { self.options = options }

        func receive(_ token: TokenRecord, replayed: Bool) {
            log.withLock { $0.append((replayed ? "h" : "") + "\(token.info.index)") }
        }

        func receive(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
            log.withLock { $0.append("\(kind)") }
        }

        var received: [String] { log.withLock { $0 } }
    }

    @Test func subscribersStartNowOrFromTheOldestHeld() {
        let hub = StreamHub(name: "mic", historyCapacity: 4)
        hub.deliver(block(0..<6))
        let now = Recorder(), oldest = Recorder()
        var announced: [UInt64] = []
        announced.append(hub.subscribe(now, start: .now))
        hub.subscribe(oldest, start: .oldest) { announced.append($0) }
        #expect(announced == [6, 2])
        hub.deliver(block(6..<8))
        hub.ended(totalTokens: 8)
        #expect(now.received == ["6", "7", "ended"])
        #expect(oldest.received == ["h2", "h3", "h4", "h5", "6", "7", "ended"])
        #expect(hub.subscriberCount == 0)
    }

    @Test func subscribingAfterTheEndGetsHistoryAndEnded() {
        let hub = StreamHub(name: "file", historyCapacity: 10)
        hub.deliver(block(0..<3))
        hub.ended(totalTokens: 3)
        let late = Recorder()
        hub.subscribe(late, start: .oldest)
        #expect(late.received == ["h0", "h1", "h2", "ended"])
        #expect(hub.subscriberCount == 0)
    }

    @Test func unsubscribeSaysEndedAndRemoveSaysNothing() {
        let hub = StreamHub(name: "mic", historyCapacity: 0)
        let leaving = Recorder(), gone = Recorder()
        hub.subscribe(leaving, start: .now)
        hub.subscribe(gone, start: .now)
        hub.deliver(block(0..<1))
        hub.unsubscribe(leaving, reason: "unsubscribed")
        hub.remove(gone)
        hub.deliver(block(1..<2))
        #expect(leaving.received == ["0", "ended"])
        #expect(gone.received == ["0"])
    }

    @Test func speechOptionsFilterTokensAndEvents() {
        let hub = StreamHub(name: "mic", historyCapacity: 0)
        let all = Recorder(), speechOnly = Recorder(options: .speechOnly), events = Recorder(options: .speechEvents)
        for r in [all, speechOnly, events] { hub.subscribe(r, start: .now) }
        hub.event(.speechStart, at: 640, count: 0, message: "")
        hub.deliver(block(0..<1))
        hub.deliver(block(1..<2, flags: .speech))
        hub.event(.overrun, at: 0, count: 10, message: "")
        #expect(all.received == ["0", "1", "overrun"])
        #expect(speechOnly.received == ["speechStart", "1", "overrun"])
        #expect(events.received == ["speechStart", "0", "1", "overrun"])
    }
}
