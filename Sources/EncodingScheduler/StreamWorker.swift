import EarshotTypes
import Gemma4Audio
import Resampling
import Synchronization
import VoiceActivity

/// A stream's encoder side: its ``StreamEncoder``, the resampler for pushed audio, the ``TokenTimeline``, and the
/// voice-activity detector of the current segment. Owned by one compute thread at a time.
///
/// Every 16 kHz sample the encoder accepts (filled gaps included) goes to the detector too. Its events go to the
/// sink as they are computed and into the timeline (for the `speech` flag of the tokens described after them). A
/// segment's end (a long gap, or `finish`) finishes its detector (the last partial window zero-padded) and, if speech
/// is still open, ends it at one past the segment's last sample; a new segment gets a new detector at its start.
final class StreamWorker {
    /// What other threads may read while a compute thread holds the stream.
    struct Published {
        var tokens: UInt64 = 0
        var speechSeconds: Double = 0
        /// The end was reported (the stream counts as gone).
        var ended = false
    }

    let encoder: any StreamEncoder
    private let model: any ServedModel
    private let resampler: Resampler?
    private var timeline: TokenTimeline
    private let maxGapFill: Int
    private let voiceActivity: VoiceActivityConfiguration?
    /// The current segment's detector (nil without voice activity).
    private var vad: SileroVADStream?
    /// `finish` was consumed.
    private(set) var isFinished = false
    private var endReported = false
    private var resampled: [Float] = []
    private let clock: any SchedulerClock
    /// Where the open speech run started (timeline samples), for `speechSeconds`.
    private var speechStart: Int64?
    private var speechSamples: Int64 = 0
    /// For status, read from other threads.
    let published = Mutex(Published())
    /// Who watches this stream's log-mel frames (the live view's spectrogram).
    let melTap = MelTap()

    convenience init(model: any ServedModel, blockTokens: Int, inputRate: Int, maxGapFill: Int,
                     voiceActivity: VoiceActivityConfiguration? = nil,
                     clock: any SchedulerClock = SystemClock()) throws {
        let resampler = inputRate == 16_000 ? nil
            : try Resampler(inputRate: inputRate, outputRate: 16_000, quality: .best)
        self.init(model: model, blockTokens: blockTokens, resampler: resampler, maxGapFill: maxGapFill,
                  voiceActivity: voiceActivity, clock: clock)
    }

    /// A worker whose pushed audio goes through `resampler` to 16 kHz (nil: it is 16 kHz already).
    init(model: any ServedModel, blockTokens: Int, resampler: Resampler?, maxGapFill: Int,
         voiceActivity: VoiceActivityConfiguration? = nil, clock: any SchedulerClock = SystemClock()) {
        self.clock = clock
        self.model = model
        timeline = TokenTimeline(samplesPerToken: model.facts.samplesPerToken)
        encoder = model.makeStreamEncoder(blockTokens: blockTokens)
        self.resampler = resampler
        self.maxGapFill = maxGapFill
        self.voiceActivity = voiceActivity
        startDetector()
    }

    /// Tokens of every segment so far.
    var tokensProduced: UInt64 { timeline.tokenBase + UInt64(encoder.tokensEncoded) }

    /// Feeds the inbox to the encoder and the detector. Gaps in live audio are filled or end the segment (which
    /// encodes and emits the old segment's tail alone, with `workspace`).
    func consume(_ items: ArraySlice<ScheduledStream.InboxItem>, workspace: any PassWorkspace,
                 vadScratch: SileroVADScratch,
                 sink: any TokenSink) {
        let detection = Detection(scratch: vadScratch, sink: sink)
        for item in items {
            guard !isFinished else { return }
            switch item {
            case .audio(let samples, let firstSample, let wall):
                if let firstSample {
                    consumeLive(samples, at: firstSample, wall: wall, workspace: workspace, detection: detection)
                } else if let resampler {
                    resampled.removeAll(keepingCapacity: true)
                    do {
                        try resampler.process(samples, into: &resampled)
                        feed(resampled, wall: wall, detection)
                    } catch {
                        feed(resampled, wall: wall, detection)
                        let lost = resampler.outputPosition(ofInputFrame: Int64(samples.count)).rounded()
                        failResampling(error, lostSamples: UInt64(lost), detection)
                    }
                } else {
                    feed(samples, wall: wall, detection)
                }
            case .event(let kind, let at, let count, let message):
                sink.event(kind, at: at, count: count, message: message)
            case .finish:
                if let resampler {
                    resampled.removeAll(keepingCapacity: true)
                    do {
                        try resampler.finish(into: &resampled)
                        feed(resampled, wall: clock.wallNanoseconds(), detection)
                    } catch {
                        feed(resampled, wall: clock.wallNanoseconds(), detection)
                        failResampling(error, lostSamples: 0, detection)
                        return
                    }
                }
                finish(detection)
            }
        }
    }

    /// No more audio: the detector and the encoder flush, and the end is reported once the tokens are out.
    private func finish(_ detection: Detection) {
        finishDetector(detection)
        encoder.finish()
        isFinished = true
    }

    /// The resampler failed, so no more of this stream's audio can reach the encoder: a `discontinuity` event
    /// names the error (`lostSamples`: the failed piece, at 16 kHz), and the stream ends as a finished one does,
    /// its tokens so far flushed, then `ended`.
    private func failResampling(_ error: any Error, lostSamples: UInt64, _ detection: Detection) {
        detection.sink.event(.discontinuity, at: timeline.nextPosition, count: lostSamples,
                             message: "resampling failed: \(error); the stream ends here")
        finish(detection)
    }

    private func consumeLive(_ samples: [Float], at position: Int64, wall: Int64, workspace: any PassWorkspace,
                             detection: Detection) {
        var samples = samples[...]
        let expected = timeline.nextPosition
        if position < expected {
            samples = samples.dropFirst(Int(min(Int64(samples.count), expected - position)))   // overlap: skip
            if samples.isEmpty { return }
        } else if position > expected {
            let gap = position - expected
            let chunkNanoseconds = Int64(samples.count) * 1_000_000_000 / 16_000
            if timeline.fed == 0 && timeline.segmentCount == 1 && encoder.tokensEncoded == 0 {
                // The stream's first audio starts late: begin the first segment there, no discontinuity.
                timeline = TokenTimeline(startingAt: position, samplesPerToken: timeline.samplesPerToken)
                startDetector()
            } else if gap <= Int64(maxGapFill) {
                let zeros = [Float](repeating: 0, count: Int(gap))
                zeros.withUnsafeBufferPointer {
                    timeline.feed($0, wallNanoseconds: wall - chunkNanoseconds, gapFilled: true)
                    encode($0)
                    detect($0, detection)
                }
            } else {
                endSegment(workspace: workspace, detection: detection)
                timeline.startSegment(at: position, tokensInSegment: encoder.tokensEncoded)
                encoder.reset()
                startDetector()
            }
        }
        samples.withUnsafeBufferPointer { feed($0, wall: wall, detection) }
    }

    private func feed(_ samples: [Float], wall: Int64, _ detection: Detection) {
        samples.withUnsafeBufferPointer { feed($0, wall: wall, detection) }
    }

    private func feed(_ samples: UnsafeBufferPointer<Float>, wall: Int64, _ detection: Detection) {
        guard !samples.isEmpty else { return }
        timeline.feed(samples, wallNanoseconds: wall)
        encode(samples)
        detect(samples, detection)
    }

    /// Hands samples the timeline took to the encoder, and the log-mel frames they complete to the tap's watchers
    /// if there are any (one atomic load otherwise).
    private func encode(_ samples: UnsafeBufferPointer<Float>) {
        guard melTap.isWatched else {
            encoder.accept(samples)
            return
        }
        let origin = timeline.segmentStart, tap = melTap
        encoder.accept(samples) { hop, frames in tap.deliver(firstSample: origin + Int64(hop), frames: frames) }
    }

    // MARK: Voice activity

    /// What the detector needs during one `consume`: the compute thread's scratch, and where events go.
    struct Detection {
        let scratch: SileroVADScratch
        let sink: any TokenSink
    }

    /// A fresh detector whose window 0 starts at the current segment's first sample.
    private func startDetector() {
        vad = voiceActivity.map {
            SileroVADStream(weights: $0.weights, events: $0.events, origin: Int(timeline.segmentStart))
        }
    }

    /// Runs the detector over samples the encoder just accepted.
    private func detect(_ samples: UnsafeBufferPointer<Float>, _ detection: Detection) {
        vad?.accept(samples, scratch: detection.scratch) { window in
            if let event = window.event { speech(event, detection) }
        }
    }

    /// The segment ends: its last partial window, then the end of speech still open, at one past its last sample.
    private func finishDetector(_ detection: Detection) {
        guard let vad else { return }
        vad.finish(scratch: detection.scratch) { window in
            if let event = window.event { speech(event, detection) }
        }
        if vad.events.triggered { speech(.end(Int(timeline.nextPosition)), detection) }
    }

    /// Hands an event to the sink, and to the timeline for the `speech` flag.
    private func speech(_ event: SpeechEvent, _ detection: Detection) {
        switch event {
        case .start(let at):
            speechStart = Int64(at)
            timeline.speechStarted(at: Int64(at))
            detection.sink.event(.speechStart, at: Int64(at), count: 0, message: "")
        case .end(let at):
            if let start = speechStart.take() { speechSamples += max(0, Int64(at) - start) }
            timeline.speechEnded(at: Int64(at))
            detection.sink.event(.speechEnd, at: Int64(at), count: 0, message: "")
        }
    }

    /// Finishes the current segment and emits its tail (alone, outside the batched passes).
    private func endSegment(workspace: any PassWorkspace, detection: Detection) {
        finishDetector(detection)
        encoder.finish()
        model.drain(encoder, workspace: workspace) { tokens in emit(tokens, to: detection.sink) }
        showPassMelFrames()
    }

    /// Hands the tokens the last pass produced to `sink`, with their metadata, and the log-mel frames the pass computed
    /// (Echo's windows) to the tap's watchers.
    func emitOutput(to sink: any TokenSink) {
        emit(encoder.takeOutput(), to: sink)
        showPassMelFrames()
    }

    /// Always asks (the encoder lets go of the frames then, watched or not); delivers only if someone watches.
    private func showPassMelFrames() {
        let origin = timeline.segmentStart, tap = melTap
        encoder.showPassMelFrames { hop, frames in
            if tap.isWatched { tap.deliver(firstSample: origin + Int64(hop), frames: frames) }
        }
    }

    /// Hands `out`, tokens of this stream's encoder, to `sink` with their metadata. The block and its `infos` are,
    /// with `out`'s two arrays, all that a turn allocates in steady state (`SchedulerAllocationTests`).
    private func emit(_ out: EncodedTokens, to sink: any TokenSink) {
        guard out.count > 0 else { return }
        let last = encoder.isFinished ? encoder.tokensInAudio - 1 : -1
        var infos: [TokenInfo] = []
        infos.reserveCapacity(out.count)
        for t in out.firstToken..<(out.firstToken + out.count) {
            infos.append(timeline.info(localToken: t, final: t == last))
        }
        sink.deliver(EncodedBlock(tokens: out, infos: infos))
        publish()
    }

    private func publish() {
        let tokens = tokensProduced, speech = Double(speechSamples) / Double(TokenTimeline.sampleRate)
        let ended = endReported
        published.withLock { $0 = Published(tokens: tokens, speechSeconds: speech, ended: ended) }
    }

    /// After `finish`, once every token is out: tells the sink the stream ended (once). Returns true then.
    func reportEndIfDrained(to sink: any TokenSink) -> Bool {
        guard isFinished, !endReported, !encoder.hasReadyBlock, encoder.pendingTokenCount == 0 else { return false }
        endReported = true
        publish()
        melTap.streamEnded()
        sink.ended(totalTokens: tokensProduced)
        return true
    }
}
