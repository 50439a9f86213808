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

    /// Records what a subscription received: token indices ("3", "h3" when replayed) and event kinds ("lagged 4@3"
    /// with count and first token). With `room`, it takes that many tokens and refuses the rest until `read()`.
    final class Recorder: StreamSubscriber {
        let options: StreamOptions
        private let state: Mutex<(log: [String], room: Int, refused: Int)>

        init(options: StreamOptions = [], room: Int = .max) {
            self.options = options
            state = Mutex((log: [], room: room, refused: 0))
        }

        func receive(_ token: TokenRecord, replayed: Bool) -> Bool {
            state.withLock { s in
                guard s.room > 0 else {
                    s.refused += 1
                    return false
                }
                s.room -= 1
                s.log.append((replayed ? "h" : "") + "\(token.info.index)")
                return true
            }
        }

        func receive(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
            state.withLock { $0.log.append(kind == .lagged ? "lagged \(count)@\(at)" : "\(kind)") }
        }

        /// The client read: `tokens` more fit.
        func read(_ tokens: Int) { state.withLock { $0.room += tokens } }

        var received: [String] { state.withLock { $0.log } }
        var refusals: Int { state.withLock { $0.refused } }
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

    // MARK: Lagging subscribers

    /// A subscriber with no room refuses one token and is then skipped; when it resumes it hears how many tokens it
    /// missed, from which, and gets live tokens again (no history here to resend from). The others never notice.
    @Test func aStalledSubscriberIsSkippedAndResumesWithLagged() {
        let hub = StreamHub(name: "mic", historyCapacity: 0)
        let slow = Recorder(room: 2), good = Recorder()
        hub.subscribe(slow, start: .now)
        hub.subscribe(good, start: .now)
        hub.deliver(block(0..<5))
        hub.deliver(block(5..<8))
        #expect(slow.received == ["0", "1"])
        #expect(slow.refusals == 1)   // token 2; then skipped
        #expect(hub.laggingCount == 1 && hub.subscriberCount == 2)
        slow.read(10)
        hub.resume(slow, room: 10)
        hub.resume(slow, room: 10)   // not lagging any more: nothing
        hub.deliver(block(8..<10))
        hub.ended(totalTokens: 10)
        #expect(slow.received == ["0", "1", "lagged 6@2", "8", "9", "ended"])
        #expect(good.received == (0..<10).map { "\($0)" } + ["ended"])
    }

    /// The fan-out's work is O(tokens produced): 1000 subscribers that stall after their first token cost one
    /// refused offer each, then nothing, however many tokens follow; the one that reads gets every token.
    @Test func stalledSubscribersCostNothingPerToken() {
        let hub = StreamHub(name: "mic", historyCapacity: 64)
        let stalled = (0..<1000).map { _ in Recorder(room: 1) }
        for r in stalled { hub.subscribe(r, start: .now) }
        let reader = Recorder()
        hub.subscribe(reader, start: .now)
        let tokens: UInt64 = 500
        for first in stride(from: UInt64(0), to: tokens, by: 10) { hub.deliver(block(first..<(first + 10))) }
        // 1000 × (1 taken + 1 refused) offers to the stalled ones, 500 to the reader.
        #expect(hub.tokenOffers == 1000 * 2 + Int(tokens))
        #expect(hub.laggingCount == 1000)
        #expect(reader.received == (0..<tokens).map { "\($0)" })
        // One reads again, with room for 4: it learns it lost 495 tokens from token 1, then gets the newest 4.
        stalled[0].read(5)
        hub.resume(stalled[0], room: 4)
        #expect(hub.tokenOffers == 1000 * 2 + Int(tokens) + 4)
        hub.deliver(block(tokens..<(tokens + 1)))
        #expect(stalled[0].received == ["0", "lagged 495@1", "h496", "h497", "h498", "h499", "500"])
        // The stream ends while the others lag: they hear it when they read again, after the newest tokens.
        hub.ended(totalTokens: tokens + 1)
        #expect(stalled[1].received == ["0"])
        stalled[1].read(2)
        hub.resume(stalled[1], room: 2)
        #expect(stalled[1].received == ["0", "lagged 498@1", "h499", "h500", "ended"])
    }

    /// `oldest` history that does not fit starts the subscription lagging; speech-only subscribers count only the
    /// tokens they would have got; a resumed subscriber gets the newest held tokens it missed, as many as fit.
    @Test func historyThatDoesNotFitAndSpeechOnlyCountsAreExact() {
        let hub = StreamHub(name: "mic", historyCapacity: 8)
        hub.deliver(block(0..<4))
        hub.deliver(block(4..<8, flags: .speech))
        let small = Recorder(room: 3)
        hub.subscribe(small, start: .oldest)
        #expect(small.received == ["h0", "h1", "h2"])
        #expect(hub.tokenOffers == 4)   // the rest of the history is counted, not offered
        let speech = Recorder(options: .speechOnly, room: 1)
        hub.subscribe(speech, start: .now)
        hub.deliver(block(8..<10, flags: .speech))
        hub.deliver(block(10..<13))
        hub.deliver(block(13..<14, flags: .speech))
        small.read(100)
        speech.read(100)
        hub.resume(small, room: 2)
        hub.resume(speech, room: 100)
        hub.deliver(block(14..<15, flags: .speech))
        // The history (6 … 13) still holds what the speech-only one missed: it lost nothing, so no `lagged`.
        #expect(small.received == ["h0", "h1", "h2", "lagged 9@3", "h12", "h13", "14"])
        #expect(speech.received == ["8", "h9", "h13", "14"])
    }
}
