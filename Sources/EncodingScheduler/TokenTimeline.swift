import EarshotTypes

/// Maps an encoder's local tokens to the stream's timeline, as a plain value (no I/O, tested alone).
///
/// A stream is a run of **segments**. A segment is one life of a ``StreamEncoder``: its local sample 0 sits at
/// timeline position `segmentStart`, its local token t covers timeline samples
/// `[segmentStart + nt, segmentStart + n(t+1))` (n: the family's `samplesPerToken`; the examples use Gemma 4's 640)
/// and has stream index `tokenBase + t`. A gap in the audio that is short enough is filled with zeros inside the segment (tokens flagged `gapFilled`, the first `discontinuity`); a
/// longer one ends the segment (its last token is `final`) and starts a new one where the audio resumes (its first
/// token flagged `discontinuity`).
///
/// Worked example (short gaps filled up to 1 s): audio [0, 7 000), then audio from 10 000: 3 000 zeros fill
/// [7 000, 10 000), tokens 10 … 15 are `gapFilled` and token 10 (samples 6 400 … 7 039) is also `discontinuity`.
/// If the audio resumed at 100 000 instead, token 10 (ending the segment) would be `final`, and the next segment
/// would start at 100 000 with token 11 covering [100 000, 100 640), flagged `discontinuity`.
///
/// For each token not yet emitted it keeps the peak |sample| (for `silence`), pending flags, and the wall-clock
/// anchors of the chunks that brought its samples (for `captureTime`).
///
/// It also keeps the speech the voice-activity detector has reported so far (for `speech`): runs `[start, end)` on
/// the timeline, the last one open while its end is undecided. A token is flagged when its span overlaps a run as
/// known when ``info(localToken:final:)`` describes it. Worked: a start at 4 640 and nothing else yet flags every
/// token from the one covering sample 4 640 (token 7, [4 480, 5 120)); once an end at 48 096 is reported, token 75
/// ([48 000, 48 640)) is the last one flagged.
package struct TokenTimeline {
    package static let sampleRate: Int64 = 16_000
    /// 16 kHz samples per token (the model family's).
    let samplesPerToken: Int
    /// A token whose samples all stay below one 16-bit step counts as silence.
    static let silenceThreshold: Float = 1.0 / 32768

    /// Timeline position of the current segment's local sample 0.
    private(set) var segmentStart: Int64 = 0
    /// Stream index of the current segment's local token 0.
    private(set) var tokenBase: UInt64 = 0
    /// Samples fed into the current segment.
    private(set) var fed: Int64 = 0
    /// Segments started so far (the first is 1).
    private(set) var segmentCount = 1

    /// Per local token from `pendingBase`: peak |x| and flags.
    private var pendingBase = 0
    private var peaks: [Float] = []
    private var flags: [TokenFlags] = []
    /// (local sample end, wall ns when that sample arrived), increasing; old ones pruned.
    private var anchors: [(end: Int64, wall: Int64)] = []
    /// Speech runs on the timeline, increasing; `end` nil while open (only the last); runs ending before the last
    /// described token are pruned.
    private var speech: [(start: Int64, end: Int64?)] = []

    init(samplesPerToken: Int) {
        self.samplesPerToken = samplesPerToken
    }

    /// A timeline whose first segment starts at `position`.
    init(startingAt position: Int64, samplesPerToken: Int) {
        segmentStart = position
        self.samplesPerToken = samplesPerToken
    }

    /// Where the next sample goes on the timeline.
    var nextPosition: Int64 { segmentStart + fed }

    /// Records `samples` fed to the encoder. `wallNanoseconds` is when the last of them arrived.
    /// `gapFilled` marks zeros that stand in for lost audio.
    mutating func feed(_ samples: UnsafeBufferPointer<Float>, wallNanoseconds: Int64, gapFilled: Bool = false) {
        guard !samples.isEmpty else { return }
        let n = samples.count
        let per = samplesPerToken
        let first = Int(fed)
        let lastToken = (first + n - 1) / per
        ensureTokens(through: lastToken)
        if gapFilled {
            let firstToken = first / per
            flags[firstToken - pendingBase].insert(.discontinuity)
            for t in firstToken...lastToken { flags[t - pendingBase].insert(.gapFilled) }
        } else {
            var i = 0
            while i < n {
                let t = (first + i) / per
                let end = min(n, (t + 1) * per - first)
                var peak = peaks[t - pendingBase]
                for k in i..<end { peak = max(peak, abs(samples[k])) }
                peaks[t - pendingBase] = peak
                i = end
            }
        }
        fed += Int64(n)
        anchors.append((end: fed, wall: wallNanoseconds))
    }

    /// The voice-activity detector reported speech starting at timeline `position`.
    mutating func speechStarted(at position: Int64) {
        speech.append((start: position, end: nil))
    }

    /// The voice-activity detector reported the open speech run ending at timeline `position` (exclusive).
    mutating func speechEnded(at position: Int64) {
        guard let last = speech.indices.last, speech[last].end == nil else { return }
        speech[last].end = position
    }

    /// The next token to be fed gets `discontinuity` (used when a segment starts after a gap).
    mutating func markDiscontinuityAtNextSample() {
        let t = Int(fed) / samplesPerToken
        ensureTokens(through: t)
        flags[t - pendingBase].insert(.discontinuity)
    }

    /// Ends the current segment after `tokensInSegment` tokens and starts the next at timeline `position`.
    mutating func startSegment(at position: Int64, tokensInSegment: Int) {
        tokenBase += UInt64(tokensInSegment)
        segmentStart = position
        fed = 0
        segmentCount += 1
        pendingBase = 0
        peaks.removeAll(keepingCapacity: true)
        flags.removeAll(keepingCapacity: true)
        anchors.removeAll(keepingCapacity: true)
        markDiscontinuityAtNextSample()
    }

    /// The wire metadata of local token `t` (which must not have been released), `final` if it ends its segment.
    /// Releases the bookkeeping of tokens before `t`.
    mutating func info(localToken t: Int, final: Bool) -> TokenInfo {
        precondition(t >= pendingBase, "token \(t) was already released")
        ensureTokens(through: t)
        let first = Int64(t * samplesPerToken)
        var f = flags[t - pendingBase]
        if peaks[t - pendingBase] < Self.silenceThreshold { f.insert(.silence) }
        if final { f.insert(.final) }
        let start = segmentStart + first, end = start + Int64(samplesPerToken)
        speech.removeAll { $0.end.map { $0 <= start } ?? false }
        if speech.contains(where: { $0.start < end && ($0.end.map { $0 > start } ?? true) }) { f.insert(.speech) }
        let info = TokenInfo(index: tokenBase + UInt64(t), firstSample: segmentStart + first,
                             captureTimeNanoseconds: wallTime(ofLocalSample: first), flags: f)
        release(before: t)
        return info
    }

    /// Wall-clock estimate of local sample `s`: the arrival time of the chunk holding it, less the audio after it.
    /// A sample past the audio (an Echo window's padding) was never captured: it gets the last sample's arrival.
    private func wallTime(ofLocalSample s: Int64) -> Int64 {
        guard let anchor = anchors.first(where: { $0.end > s }) ?? anchors.last else { return 0 }
        return anchor.wall - max(0, anchor.end - s) * 1_000_000_000 / Self.sampleRate
    }

    private mutating func ensureTokens(through t: Int) {
        let needed = t - pendingBase + 1
        if needed > peaks.count {
            peaks.append(contentsOf: repeatElement(0, count: needed - peaks.count))
            flags.append(contentsOf: repeatElement([], count: needed - flags.count))
        }
    }

    private mutating func release(before t: Int) {
        let drop = min(t - pendingBase, peaks.count)
        guard drop > 0 else { return }
        peaks.removeFirst(drop)
        flags.removeFirst(drop)
        pendingBase += drop
        let keepFrom = Int64(pendingBase * samplesPerToken)
        // Keep the first anchor at or past the first kept sample, and everything after it.
        if let i = anchors.firstIndex(where: { $0.end > keepFrom }), i > 0 { anchors.removeFirst(i) }
    }
}
