import Testing
import VoiceActivity

/// A stream's windows do not depend on how its samples are cut.
struct ChunkingTests {
    @Test("any chunking gives the same probabilities and events, bit for bit",
          arguments: [[1], [7], [511], [513], [1000, 24], [160, 320, 640], [16_000], [1_000_000]])
    func chunkings(chunks: [Int]) throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio("pauses")
        let whole = runStream(weights, audio, chunks: [512])
        let cut = runStream(weights, audio, chunks: chunks)
        #expect(cut == whole)
    }

    @Test("random chunkings, seeded")
    func randomChunkings() throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio("noisy")
        let whole = runStream(weights, audio, chunks: [512])
        var state: UInt64 = 12
        for _ in 0..<4 {
            let chunks = (0..<40).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int(state >> 33) % 2000 + 1
            }
            #expect(runStream(weights, audio, chunks: chunks) == whole)
        }
    }

    @Test("windows and events sit at absolute sample positions")
    func positions() throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio("pauses")
        let windows = runStream(weights, audio, chunks: [333])
        for (k, window) in windows.enumerated() {
            #expect(window.index == k)
            #expect(window.startSample == 512 * k && window.endSample == 512 * (k + 1))
        }
    }

    @Test("a stream's origin shifts its windows and events, nothing else")
    func origin() throws {
        let weights = try VADFixtures.weights()
        let audio = try VADFixtures.audio("noisy")
        let stream = SileroVADStream(weights: weights, origin: 1_000_003)
        let scratch = SileroVADScratch()
        var shifted: [VADWindow] = []
        audio.withUnsafeBufferPointer { stream.accept($0, scratch: scratch) { shifted.append($0) } }
        stream.finish(scratch: scratch) { shifted.append($0) }
        let plain = runStream(weights, audio, chunks: [512])
        #expect(shifted.map(\.probability) == plain.map(\.probability))
        #expect(shifted.map(\.startSample) == plain.map { $0.startSample + 1_000_003 })
        #expect(shifted.compactMap(\.event) == plain.compactMap(\.event).map { event in
            switch event {
            case .start(let sample): .start(sample + 1_000_003)
            case .end(let sample): .end(sample + 1_000_003)
            }
        })
    }

    @Test("no window before 512 samples; finish pads the partial one; finishing after whole windows adds none")
    func finishing() throws {
        let weights = try VADFixtures.weights()
        let scratch = SileroVADScratch()
        let stream = SileroVADStream(weights: weights)
        let silence = [Float](repeating: 0, count: 1024)
        var count = 0
        silence.withUnsafeBufferPointer { stream.accept(UnsafeBufferPointer(rebasing: $0[0..<511]), scratch: scratch) { _ in count += 1 } }
        #expect(count == 0)
        silence.withUnsafeBufferPointer { stream.accept(UnsafeBufferPointer(rebasing: $0[0..<1]), scratch: scratch) { _ in count += 1 } }
        #expect(count == 1 && stream.windowCount == 1 && stream.sampleCount == 512)
        stream.finish(scratch: scratch) { _ in count += 1 }
        #expect(count == 1)
        silence.withUnsafeBufferPointer { stream.accept(UnsafeBufferPointer(rebasing: $0[0..<5]), scratch: scratch) { _ in count += 1 } }
        stream.finish(scratch: scratch) { _ in count += 1 }
        #expect(count == 2 && stream.windowCount == 2)
    }
}
