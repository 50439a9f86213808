import AllocationCounting
import EarshotTypes
@testable import EncodingScheduler
import Foundation
import Gemma4Audio
import Testing
import VoiceActivity

/// A sink that keeps nothing, so the test measures the scheduler, not a sink's storage.
private final class CountingSink: TokenSink, @unchecked Sendable {   // used on the test's thread only
    var blocks = 0, tokens = 0, events = 0

    func deliver(_ block: EncodedBlock) {
        blocks += 1
        tokens += block.count
    }

    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) { events += 1 }
    func ended(totalTokens: UInt64) {}
}

/// What a compute thread's turn allocates in steady state, counted on the test's thread (which takes the turns, as a
/// compute thread does) over long live streams batched together, with voice activity on: exactly what each block
/// hands its sink — the `EncodedBlock`, its `TokenInfo` array, and the encoder and embedding arrays
/// (`EncoderStream.takeOutput`) — and nothing else (inbox, batch, pass, timeline and detector bookkeeping).
struct SchedulerAllocationTests {
    static let allocationsPerBlock = 4

    @Test("a turn allocates only the blocks it hands to the sinks: 4 allocations per block")
    func steadyStateTurns() throws {
        var c = SchedulerConfiguration()
        c.voiceActivity = VoiceActivityConfiguration(weights: VoiceActivitySchedulingTests.weights)
        let s = Scheduler(model: Fixtures.tiny, configuration: c, clock: VirtualClock())
        let context = ComputeContext(for: s)
        let sinks = [CountingSink(), CountingSink()]
        let streams = try sinks.enumerated().map { try s.addStream(name: "s\($0.offset)", kind: .live, sink: $0.element) }
        // Speech with pauses, looped (so the detector starts and ends speech), in 100 ms chunks; the two streams are
        // offset by 3 000 samples so their blocks complete in different turns.
        let audio = try VoiceActivitySchedulingTests.pauses().samples
        let chunk = 1_600
        var allocations = 0, blocksBefore = 0
        for index in 0..<900 {
            let warmedUp = index >= 100
            if index == 100 { blocksBefore = sinks.map(\.blocks).reduce(0, +) }
            for (number, stream) in streams.enumerated() {
                let position = index * chunk + number * 3_000
                let start = position % (audio.count - chunk)
                // The producer's side, not measured: the chunk's array.
                stream.submitLive(Array(audio[start..<(start + chunk)]), firstSample: Int64(position), wall: 0)
            }
            let turn = AllocationCounter.allocations { s.runUntilIdle(context) }
            if warmedUp { allocations += turn }
        }
        let blocks = sinks.map(\.blocks).reduce(0, +) - blocksBefore
        print("[alloc] scheduler: \(allocations) allocations for \(blocks) blocks over 800 turns; "
              + "speech events \(sinks.map(\.events))")
        #expect(blocks == 2 * 800 * chunk / (12 * 640) || blocks == 2 * 800 * chunk / (12 * 640) + 1)
        #expect(sinks.allSatisfy { $0.events >= 4 })   // the detector did run, and found speech starting and ending
        #expect(allocations == Self.allocationsPerBlock * blocks)
    }
}
