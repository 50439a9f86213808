import AllocationCounting
import Gemma4Audio
import NumberBits
import Testing

/// What the f32 streaming path allocates in steady state, counted on the test's thread over a minute of audio per
/// stream (README, "Memory"): accepting audio (log-mel frontend and SSCP) allocates nothing; `takeOutput` allocates
/// exactly the two arrays of the next output (the ones it returns were allocated by the previous call and now belong
/// to the caller); an encoder pass allocates nothing on one product thread, and on several, one closure box for each
/// row loop it splits over them.
struct AllocationTests {
    @Test("accept and encodePass allocate nothing per block on one thread; takeOutput allocates two arrays",
          arguments: [(1, 1), (1, 3), (3, 1), (3, 3)])
    func steadyStateBlocks(streamCount: Int, threads: Int) throws {
        let model = try Fixtures.model("tiny-f32")
        let blockTokens = 12
        let streams = (0..<streamCount).map { _ in EncoderStream(model: model, blockTokens: blockTokens) }
        let scratch = EncoderScratch(model: model, capacity: blockTokens * streamCount, threads: threads)
        // Noise in 100 ms chunks (capture's period), so blocks and chunks do not line up.
        var generator = SplitMix64(seed: 7)
        let chunk = (0..<1_600).map { _ in Float.random(in: -0.5...0.5, using: &generator) }
        var accepting = 0, passing = 0, taking = 0, passes = 0, blocks = 0
        for index in 0..<600 {
            let warmedUp = index >= 60   // the first seconds grow the held arrays to their steady capacity
            for stream in streams {
                let accepted = AllocationCounter.allocations { chunk.withUnsafeBufferPointer { stream.accept($0) } }
                if warmedUp { accepting += accepted }
            }
            while streams[0].hasReadyBlock {
                var encoded = 0
                let passed = AllocationCounter.allocations { encoded = model.encodePass(streams, scratch: scratch) }
                #expect(encoded == blockTokens * streamCount)
                for stream in streams {
                    var output = EncodedTokens()
                    let taken = AllocationCounter.allocations { output = stream.takeOutput() }
                    #expect(output.count == blockTokens)
                    if warmedUp { taking += taken; blocks += 1 }
                }
                if warmedUp { passing += passed; passes += 1 }
            }
        }
        print("[alloc] f32, \(streamCount) stream(s), \(threads) product thread(s), \(passes) passes of \(blocks) "
              + "blocks after warm-up: accept \(accepting), encodePass \(passing), takeOutput \(taking) allocations")
        #expect(passes == 112)   // 540 chunks × 1 600 samples = 1 350 tokens per stream: 112 whole blocks
        #expect(accepting == 0)
        #expect(taking == 2 * blocks)
        // Several product threads: every row loop that splits (count ≥ 2 × grain, all of them with 12-token blocks)
        // boxes its closure to hand it to the pool: 14 over the stacked rows and 2 per stream, in each layer.
        let splitLoops = threads == 1 ? 0 : (14 + 2 * streamCount) * model.configuration.layerCount
        #expect(passing == splitLoops * passes)
    }
}
