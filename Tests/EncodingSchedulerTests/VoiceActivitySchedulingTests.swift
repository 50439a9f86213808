import AudioCore
import Foundation
import Testing
import VoiceActivity
@testable import EncodingScheduler
import EarshotTypes

/// Voice activity in the scheduler: the events a stream's sink hears are silero-vad's `VADIterator` events on the
/// stream's timeline, per segment; the `speech` flag marks the tokens overlapping the runs known when they are sent.
@Suite(.serialized) struct VoiceActivitySchedulingTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let weights = try! SileroVADWeights(
        path: repository.appendingPathComponent("models/silero-vad/silero_vad_16k_v6.safetensors").path)

    /// The `pauses` case of Tests/Fixtures/vad: its 16 kHz samples and silero-vad's own `VADIterator` events
    /// (written by tools/reference/make_vad_fixtures.py).
    static func pauses() throws -> (samples: [Float], events: [(EventKind, Int64)]) {
        let directory = repository.appendingPathComponent("Tests/Fixtures/vad/pauses").path
        let (info, samples) = try WAV.read(path: directory + "/input.wav")
        precondition(info.sampleRate == 16_000 && info.channels == 1)
        let lines = try String(contentsOfFile: directory + "/events.jsonl", encoding: .utf8).split(separator: "\n")
        let events = try lines.map { line -> (EventKind, Int64) in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Int]
            if let start = object["start"] { return (.speechStart, Int64(start)) }
            return (.speechEnd, Int64(object["end"]!))
        }
        return (samples, events)
    }

    /// Every audio chunk and the finish are queued before the turn runs (here, synchronously), so every window is computed
    /// before any token is described: the flags then follow the complete runs, deterministically.
    func run(_ feed: (ScheduledStream) -> Void, configure: (inout SchedulerConfiguration) -> Void = { _ in })
        async throws -> RecordingSink {
        var c = SchedulerConfiguration()
        c.liveBacklogSamples = 1 << 30
        c.voiceActivity = VoiceActivityConfiguration(weights: Self.weights)
        configure(&c)
        let scheduler = Scheduler(model: Fixtures.tiny, configuration: c)
        let sink = RecordingSink()
        let stream = try scheduler.addStream(name: "mic", kind: .live, sink: sink)
        feed(stream)
        stream.finish()
        scheduler.runUntilIdle(ComputeContext(for: scheduler))
        #expect(sink.endedCount != nil)
        return sink
    }

    /// Tokens whose span `[f, f + 640)` overlaps some `[start, end)` run of `events`.
    static func overlapping(_ events: [(EventKind, Int64)], _ tokens: [Received]) -> [Bool] {
        var runs: [(Int64, Int64)] = []
        for (kind, at) in events {
            if kind == .speechStart { runs.append((at, .max)) } else { runs[runs.count - 1].1 = at }
        }
        return tokens.map { t in runs.contains { $0.0 < t.info.firstSample + 640 && $0.1 > t.info.firstSample } }
    }

    /// The events of one VoiceActivity stream fed `samples` whole, with the default settings.
    static func detectorEvents(_ samples: [Float]) -> [SpeechEvent] {
        let stream = SileroVADStream(weights: weights)
        let scratch = SileroVADScratch()
        var events: [SpeechEvent] = []
        samples.withUnsafeBufferPointer { stream.accept($0, scratch: scratch) { if let e = $0.event { events.append(e) } } }
        stream.finish(scratch: scratch) { if let e = $0.event { events.append(e) } }
        return events
    }

    @Test func aStreamsEventsAreVADIteratorsAndItsFlagsTheirRuns() async throws {
        let (samples, expected) = try Self.pauses()
        let sink = try await run { stream in
            var offset = 0, size = 1
            while offset < samples.count {                       // chunks of 1, 8, 64, 512, 4096 … samples
                let end = min(samples.count, offset + size)
                stream.submitLive(Array(samples[offset..<end]), firstSample: Int64(offset), wall: 0)
                offset = end
                size = size >= 4096 ? 1 : size * 8
            }
        }
        let events = sink.events.map { ($0.0, $0.1) }
        #expect(events.map(\.0) == expected.map(\.0))
        #expect(events.map(\.1) == expected.map(\.1))
        #expect(sink.events.allSatisfy { $0.2 == 0 })
        let tokens = sink.tokens
        #expect(UInt64(tokens.count) == sink.endedCount)
        #expect(tokens.map { $0.info.flags.contains(.speech) } == Self.overlapping(expected, tokens))
        #expect(tokens.contains { $0.info.flags.contains(.speech) } && tokens.contains { !$0.info.flags.contains(.speech) })
    }

    /// A long gap ends the segment inside speech: its speech ends at one past its last sample, and the next
    /// segment's detector starts afresh at the segment's first sample (its events shifted to the timeline).
    @Test func segmentsGetFreshDetectorsAndOpenSpeechEndsWithTheSegment() async throws {
        let (samples, expected) = try Self.pauses()
        let head = Array(samples[0..<40_000])                    // speech from 4 640 is still open at 40 000
        let resume: Int64 = 1_000_000
        let sink = try await run({ stream in
            stream.submitLive(head, firstSample: 0, wall: 0)
            stream.submitLive(samples, firstSample: resume, wall: 0)
        }, configure: { $0.maxGapFillSamples = 1000 })
        // The first segment alone, through VoiceActivity directly: one start, no end.
        let alone = Self.detectorEvents(head)
        #expect(alone == [.start(4640)])
        let want: [(EventKind, Int64)] = [(.speechStart, 4640), (.speechEnd, 40_000)]
            + expected.map { ($0.0, $0.1 + resume) }
        let events = sink.events
        #expect(events.map(\.0) == want.map(\.0))
        #expect(events.map(\.1) == want.map(\.1))
        let tokens = sink.tokens
        #expect(tokens.map { $0.info.flags.contains(.speech) } == Self.overlapping(want, tokens))
    }

    /// Without voice activity nothing is detected: no events, no flags.
    @Test func offMeansNoEventsAndNoFlags() async throws {
        let (samples, _) = try Self.pauses()
        let sink = try await run({ stream in
            stream.submitLive(Array(samples[0..<32_000]), firstSample: 0, wall: 0)
        }, configure: { $0.voiceActivity = nil })
        #expect(sink.events.isEmpty)
        #expect(sink.tokens.count == 50 && sink.tokens.allSatisfy { !$0.info.flags.contains(.speech) })
    }
}
