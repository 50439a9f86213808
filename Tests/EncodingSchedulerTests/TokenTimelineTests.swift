import Testing
@testable import EncodingScheduler
import EarshotTypes

/// The token ↔ sample bookkeeping: indices, positions, flags, wall-clock estimates.
@Suite struct TokenTimelineTests {
    func feed(_ t: inout TokenTimeline, _ values: [Float], wall: Int64, gap: Bool = false) {
        values.withUnsafeBufferPointer { t.feed($0, wallNanoseconds: wall, gapFilled: gap) }
    }

    @Test func positionsAndIndicesFollowTheSamples() {
        var t = TokenTimeline(startingAt: 1000, samplesPerToken: 640)
        feed(&t, [Float](repeating: 0.5, count: 1920), wall: 0)
        let infos = (0..<3).map { t.info(localToken: $0, final: $0 == 2) }
        #expect(infos.map(\.index) == [0, 1, 2])
        #expect(infos.map(\.firstSample) == [1000, 1640, 2280])
        #expect(infos[2].flags == [.final])
        #expect(infos[0].flags.isEmpty)
    }

    @Test func silenceIsBelowOneSixteenBitStep() {
        var t = TokenTimeline(samplesPerToken: 640)
        feed(&t, [Float](repeating: 1.0 / 40000, count: 640), wall: 0)   // below 1/32768
        feed(&t, [Float](repeating: 0, count: 639) + [1.0 / 30000], wall: 0)
        #expect(t.info(localToken: 0, final: false).flags == [.silence])
        #expect(t.info(localToken: 1, final: false).flags.isEmpty)
    }

    @Test func filledGapsAreFlagged() {
        var t = TokenTimeline(samplesPerToken: 640)
        feed(&t, [Float](repeating: 0.5, count: 7000), wall: 0)
        feed(&t, [Float](repeating: 0, count: 3000), wall: 0, gap: true)   // [7000, 10000): tokens 10…15
        feed(&t, [Float](repeating: 0.5, count: 640 * 4), wall: 0)
        let flags = (0..<18).map { t.info(localToken: $0, final: false).flags }
        #expect(flags[9].isEmpty)
        #expect(flags[10] == [.discontinuity, .gapFilled])
        for k in 11...15 { #expect(flags[k].contains(.gapFilled)) }
        #expect(flags[12].contains(.silence))   // wholly inside the gap
        #expect(flags[16].isEmpty)
    }

    @Test func newSegmentsContinueTheIndexAndStartWithADiscontinuity() {
        var t = TokenTimeline(samplesPerToken: 640)
        feed(&t, [Float](repeating: 0.5, count: 640 * 3), wall: 0)
        _ = (0..<3).map { t.info(localToken: $0, final: $0 == 2) }
        t.startSegment(at: 100_000, tokensInSegment: 3)
        feed(&t, [Float](repeating: 0.5, count: 640 * 2), wall: 0)
        let a = t.info(localToken: 0, final: false), b = t.info(localToken: 1, final: false)
        #expect(a.index == 3 && a.firstSample == 100_000 && a.flags == [.discontinuity])
        #expect(b.index == 4 && b.firstSample == 100_640 && b.flags.isEmpty)
        #expect(t.segmentCount == 2)
    }

    /// The `speech` flag: a token overlaps a run as known when it is described. An open run flags everything from
    /// its start on; its end, once known, stops the flag at the last token it overlaps; a later run starts again.
    @Test func speechFlagsTheTokensOverlappingTheKnownRuns() {
        var t = TokenTimeline(samplesPerToken: 640)
        feed(&t, [Float](repeating: 0.5, count: 640 * 100), wall: 0)
        t.speechStarted(at: 4640)                                   // in token 7 = [4480, 5120)
        var speech = (0..<10).map { t.info(localToken: $0, final: false).flags.contains(.speech) }
        #expect(speech == [Bool](repeating: false, count: 7) + [true, true, true])
        t.speechEnded(at: 48_096)                                   // token 75 = [48000, 48640) is the last
        speech = (10..<80).map { t.info(localToken: $0, final: false).flags.contains(.speech) }
        #expect(speech == [Bool](repeating: true, count: 66) + [false, false, false, false])
        t.speechStarted(at: 51_200)                                 // exactly token 80's first sample
        t.speechEnded(at: 51_840)                                   // exactly token 81's first sample: not 81
        t.speechStarted(at: 53_759)                                 // the last sample of token 83
        speech = (80..<86).map { t.info(localToken: $0, final: false).flags.contains(.speech) }
        #expect(speech == [true, false, false, true, true, true])
    }

    /// Runs live on the timeline: across a new segment, the flag follows timeline positions.
    @Test func speechRunsAreOnTheTimelineAcrossSegments() {
        var t = TokenTimeline(samplesPerToken: 640)
        feed(&t, [Float](repeating: 0.5, count: 640 * 2), wall: 0)
        t.speechStarted(at: 700)
        t.speechEnded(at: 1280)
        #expect((0..<2).map { t.info(localToken: $0, final: $0 == 1).flags.contains(.speech) } == [false, true])
        t.startSegment(at: 100_000, tokensInSegment: 2)
        feed(&t, [Float](repeating: 0.5, count: 640 * 2), wall: 0)
        t.speechStarted(at: 100_640)
        let flags = (0..<2).map { t.info(localToken: $0, final: false).flags }
        #expect(flags == [[.discontinuity], [.speech]])
    }

    @Test func wallTimeIsTheArrivalLessTheAudioAfter() {
        var t = TokenTimeline(samplesPerToken: 640)
        // 320 samples (20 ms) arrive at t = 1 s, the next 320 at 1.02 s, and so on.
        for k in 0..<8 {
            feed(&t, [Float](repeating: 0.1, count: 320), wall: 1_000_000_000 + Int64(k) * 20_000_000)
        }
        // Token 1 starts at sample 640, which is the first of chunk 2 (arrived 1.04 s, ends at sample 960).
        #expect(t.info(localToken: 0, final: false).captureTimeNanoseconds == 1_000_000_000 - 20_000_000)
        #expect(t.info(localToken: 1, final: false).captureTimeNanoseconds == 1_040_000_000 - 20_000_000)
    }
}
