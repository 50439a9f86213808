import NumberBits
import Testing
@testable import WireProtocol

/// The same byte stream, split every way we can think of, must decode to the same frames.
@Suite struct FrameDecoderTests {
    let frames: [[UInt8]] = sampleClientMessages.map { $0.encoded() } + sampleServerMessages.map { $0.encoded() }
    var stream: [UInt8] { frames.flatMap { $0 } }

    /// Feeds `chunks` in order, collecting every frame; `next()` is called until nil after each chunk.
    func decode(_ chunks: [ArraySlice<UInt8>], limit: Int = 1 << 20) throws -> [Frame] {
        var decoder = FrameDecoder(maxFrameLength: limit)
        var out: [Frame] = []
        for chunk in chunks {
            decoder.append(chunk)
            while let frame = try decoder.next() { out.append(frame) }
        }
        #expect(decoder.bufferedByteCount == 0)
        return out
    }

    func expected() -> [Frame] {
        frames.map { bytes in Frame(type: bytes[4], body: bytes[5...]) }
    }

    @Test func allAtOnce() throws {
        #expect(try decode([stream[...]]) == expected())
    }

    @Test func oneByteAtATime() throws {
        let bytes = stream
        #expect(try decode(bytes.indices.map { bytes[$0...$0] }) == expected())
    }

    @Test func oneFramePerBuffer() throws {
        #expect(try decode(frames.map { $0[...] }) == expected())
    }

    @Test(arguments: [1, 2, 3, 5, 7, 11, 64, 4099])
    func fixedSplits(size: Int) throws {
        let bytes = stream
        let chunks = stride(from: 0, to: bytes.count, by: size).map { bytes[$0..<min(bytes.count, $0 + size)] }
        #expect(try decode(chunks) == expected())
    }

    @Test func randomSplits() throws {
        var rng = SplitMix64(seed: 42)
        let bytes = stream
        for _ in 0..<50 {
            var chunks: [ArraySlice<UInt8>] = []
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 0...40, using: &rng)  // empty chunks too
                chunks.append(bytes[i..<min(bytes.count, i + n)])
                i += n
            }
            #expect(try decode(chunks) == expected())
        }
    }

    @Test func messagesSurviveTheTrip() throws {
        let decoded = try decode([stream[...]])
        let clients = try decoded.prefix(sampleClientMessages.count).map { try ClientMessage(frame: $0) }
        let servers = try decoded.dropFirst(sampleClientMessages.count).map { try ServerMessage(frame: $0) }
        #expect(clients == sampleClientMessages)
        #expect(servers == sampleServerMessages)
    }

    @Test func oversizeLengthFailsOnItsFourBytes() {
        var decoder = FrameDecoder(maxFrameLength: 1000)
        decoder.append([0xE9, 0x03, 0x00])              // 1001, incomplete prefix: nothing yet
        #expect(throws: Never.self) { try decoder.next() }
        decoder.append([0x00])
        #expect(throws: ProtocolError.self) { try decoder.next() }
        do { _ = try decoder.next() } catch { #expect(error.code == .frameTooLarge) }
        // Stays failed, whatever follows.
        decoder.append(ClientMessage.ping(nonce: 1).encoded())
        #expect(throws: ProtocolError.self) { try decoder.next() }
    }

    @Test func hugeLengthIsRefusedWithoutBuffering() {
        var decoder = FrameDecoder(maxFrameLength: 1 << 20)
        decoder.append([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: ProtocolError(.frameTooLarge, "a frame of 4294967295 bytes exceeds the limit of 1048576")) {
            try decoder.next()
        }
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func zeroLengthIsMalformed() {
        var decoder = FrameDecoder(maxFrameLength: 100)
        decoder.append([0, 0, 0, 0, 1])
        do { _ = try decoder.next(); Issue.record("accepted a zero length") } catch {
            #expect(error.code == .malformedFrame)
        }
    }

    @Test func exactLimitIsAccepted() throws {
        var decoder = FrameDecoder(maxFrameLength: 5)
        decoder.append(ClientMessage.status(request: 1).encoded())   // type + u32 = 5
        #expect(try decoder.next() != nil)
    }
}
