import AllocationCounting
import Testing
import VoiceActivity

/// Silero VAD allocates nothing per window (docs/vad.md): counted on the test's thread over the `pauses` case looped
/// for a minute, in 100 ms chunks (windows and chunks do not line up), after the first loop warmed up.
struct VADAllocationTests {
    @Test("a window allocates nothing, events included")
    func steadyStateWindows() throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio("pauses")
        let stream = SileroVADStream(weights: weights)
        let scratch = SileroVADScratch()
        let chunk = 1_600
        var allocations = 0, windows = 0, events = 0
        for index in 0..<600 {
            let start = (index * chunk) % (audio.count - chunk)
            let measured = index * chunk >= audio.count
            var seen = 0, evented = 0
            let counted = audio.withUnsafeBufferPointer { all in
                AllocationCounter.allocations {
                    stream.accept(UnsafeBufferPointer(rebasing: all[start..<(start + chunk)]), scratch: scratch) {
                        seen += 1
                        if $0.event != nil { evented += 1 }
                    }
                }
            }
            if measured { allocations += counted; windows += seen; events += evented }
        }
        print("[alloc] vad: \(allocations) allocations over \(windows) windows with \(events) events")
        #expect(windows >= 1_500 && events >= 4)
        #expect(allocations == 0)
    }
}
