import Foundation
import Gemma4Audio
import NumberBits
import Testing

/// The streaming engine against the offline encoder: same tokens, whatever the chunking or block size.
struct StreamingTests {
    @Test("streaming equals offline for every chunking and block size",
          arguments: [
            ([1], 12), ([7], 1), ([101], 5), ([641], 12), ([997, 13, 4999], 7), ([160], 3), ([639, 641], 12),
            ([16_000], 12), ([100_000], 2), ([1_000_000], 12),
          ])
    func chunkings(chunks: [Int], blockTokens: Int) throws {
        let model = try Fixtures.model("tiny-f32")
        let audio = try Fixtures.audio(chunks == [1] ? "odd-length" : "speech")
        let offline = model.encode(audio)
        let streamed = encodeInChunks(model, audio, chunks: chunks, blockTokens: blockTokens)
        #expect(streamed.count == offline.count)
        #expect(streamed.firstToken == 0)
        let error = maxAbsDifference(streamed.embeddings, offline.embeddings)
        print("[stream] chunks \(chunks) block \(blockTokens): max |Δ| = \(error)")
        #expect(error <= 1e-5)
        #expect(maxAbsDifference(streamed.encoder, offline.encoder) <= 1e-5)
        // Stronger than the bar: every product computes each row alone, so the results are bit-identical.
        #expect(streamed.embeddings == offline.embeddings)
    }

    @Test("random chunkings, seeded")
    func randomChunkings() throws {
        let model = try Fixtures.model("tiny3-f32")
        let audio = try Fixtures.audio("speech")
        let offline = model.encode(audio)
        var generator = SplitMix64(seed: 42)
        for trial in 0..<6 {
            let chunks = (0..<50).map { _ in Int.random(in: 1...3000, using: &generator) }
            let block = Int.random(in: 1...12, using: &generator)
            let threads = Int.random(in: 1...3, using: &generator)
            let streamed = encodeInChunks(model, audio, chunks: chunks, blockTokens: block, threads: threads)
            let error = maxAbsDifference(streamed.embeddings, offline.embeddings)
            print("[stream] random trial \(trial) block \(block) threads \(threads): max |Δ| = \(error)")
            #expect(streamed.embeddings == offline.embeddings)   // any chunking, block and thread count: same bits
        }
    }

    @Test("token t leaves once sample 640(t+1) has arrived")
    func emissionTiming() throws {
        let model = try Fixtures.model("tiny-f32")
        let audio = try Fixtures.audio("speech")
        let stream = EncoderStream(model: model, blockTokens: 1)
        let scratch = EncoderScratch(model: model, capacity: 1)
        for n in 1...4000 {
            audio.withUnsafeBufferPointer { stream.accept(UnsafeBufferPointer(rebasing: $0[(n - 1)..<n])) }
            model.drain([stream], scratch: scratch) { _, _ in }
            let expected = n >= 641 ? (n - 641) / 640 + 1 : 0
            if stream.tokensEncoded != expected {
                Issue.record("after \(n) samples: \(stream.tokensEncoded) tokens, expected \(expected)")
                return
            }
        }
    }

    @Test("a block waits until it is full, then leaves whole")
    func blocks() throws {
        let model = try Fixtures.model("tiny-f32")
        let stream = EncoderStream(model: model, blockTokens: 12)
        let scratch = EncoderScratch(model: model, capacity: 12)
        stream.accept(try Fixtures.audio("speech").prefix(7_680).map { $0 })
        #expect(stream.tokensSubsampled == 11)
        #expect(model.encodePass([stream], scratch: scratch) == 0)
        stream.accept([0.1])
        #expect(stream.tokensSubsampled == 12)
        #expect(model.encodePass([stream], scratch: scratch) == 12)
        #expect(stream.takeOutput().count == 12)
    }

    @Test("a ten-minute stream holds no more state than a one-minute stream")
    func boundedState() throws {
        let model = try Fixtures.model("tiny-f32")
        let stream = EncoderStream(model: model, blockTokens: 12)
        let scratch = EncoderScratch(model: model, capacity: 12)
        var generator = SplitMix64(seed: 7)
        var second = [Float](repeating: 0, count: 16_000)
        for i in second.indices {
            let tone = Float(0.3 * sin(Double(i) * 0.07))
            second[i] = tone + Float.random(in: -0.05...0.05, using: &generator)
        }
        var peakAfterFirstMinute = 0, peakLater = 0, tokens = 0
        for secondIndex in 0..<600 {
            // Uneven pieces, so the held state is sampled at many phases.
            for piece in [1_237, 4_001, 10_762] {
                let start = piece == 1_237 ? 0 : (piece == 4_001 ? 1_237 : 5_238)
                second.withUnsafeBufferPointer { stream.accept(UnsafeBufferPointer(rebasing: $0[start..<start + piece])) }
                model.drain([stream], scratch: scratch) { _, out in tokens += out.count }
                if secondIndex < 60 { peakAfterFirstMinute = max(peakAfterFirstMinute, stream.heldFloatCount) }
                else { peakLater = max(peakLater, stream.heldFloatCount) }
            }
        }
        // Every token subsampled so far, in whole 12-token blocks (the stream is not finished).
        #expect(tokens == ((600 * 16_000 - 641) / 640 + 1) / 12 * 12)
        #expect(peakLater <= peakAfterFirstMinute)
        print("[stream] 10 min: \(tokens) tokens, held floats peak \(peakAfterFirstMinute) (1st min) vs \(peakLater)")
    }

    @Test("a batched pass equals encoding each stream alone")
    func batched() throws {
        let model = try Fixtures.model("tiny-f32")
        let audio = try Fixtures.audio("speech")
        // Three streams at different positions: offsets into the clip and different block sizes.
        let setups = [(0, 12), (3_333, 5), (20_000, 12)]
        func makeStreams() -> [EncoderStream] {
            setups.map { offset, block in
                let stream = EncoderStream(model: model, blockTokens: block)
                stream.accept(Array(audio[offset...]))
                stream.finish()
                return stream
            }
        }
        let batchedStreams = makeStreams()
        let batchScratch = EncoderScratch(model: model, capacity: 48)
        var batched = batchedStreams.map { _ in [Float]() }
        let encoded = model.drain(batchedStreams, scratch: batchScratch) { i, out in batched[i] += out.embeddings }
        #expect(encoded * model.configuration.textHiddenSize == batched.reduce(0) { $0 + $1.count })
        let aloneStreams = makeStreams()
        let aloneScratch = EncoderScratch(model: model, capacity: 12)
        for (i, stream) in aloneStreams.enumerated() {
            var alone: [Float] = []
            model.drain([stream], scratch: aloneScratch) { _, out in alone += out.embeddings }
            let error = maxAbsDifference(batched[i], alone)
            print("[batch] stream \(i): \(alone.count / model.configuration.textHiddenSize) tokens, max |Δ| = \(error)")
            #expect(!alone.isEmpty)
            #expect(error <= 1e-5)
            #expect(batched[i] == alone)
        }
    }

    @Test("a reset stream starts fresh")
    func reset() throws {
        let model = try Fixtures.model("tiny-f32")
        let first = try Fixtures.audio("speech"), second = try Fixtures.audio("odd-length")
        let stream = EncoderStream(model: model, blockTokens: 12)
        let scratch = EncoderScratch(model: model, capacity: 12)
        stream.accept(first)
        model.drain([stream], scratch: scratch) { _, _ in }
        stream.reset()
        stream.accept(second)
        stream.finish()
        var tokens = EncodedTokens()
        model.drain([stream], scratch: scratch) { _, out in tokens.append(out) }
        let fresh = model.encode(second)
        #expect(tokens.firstToken == 0)
        #expect(maxAbsDifference(tokens.embeddings, fresh.embeddings) <= 1e-5)
    }
}
