import NumberBits
import Testing
@testable import WireProtocol

/// Random and mutated bytes must never crash the decoder or the message parsers: each either yields frames and
/// messages or throws a `ProtocolError`.
@Suite struct FuzzTests {
    /// Decodes everything it can; returns how many frames parsed as messages.
    @discardableResult
    func chew(_ bytes: [UInt8], splits rng: inout SplitMix64, limit: Int = 4096) -> Int {
        var decoder = FrameDecoder(maxFrameLength: limit)
        var parsed = 0
        var i = 0
        while i < bytes.count {
            let n = Int.random(in: 1...64, using: &rng)
            decoder.append(bytes[i..<min(bytes.count, i + n)])
            i += n
            do {
                while let frame = try decoder.next() {
                    if (try? ClientMessage(frame: frame)) != nil { parsed += 1 }
                    if (try? ServerMessage(frame: frame)) != nil { parsed += 1 }
                    if case .embedding(let e)? = try? ServerMessage(frame: frame) { _ = e.values() }
                }
            } catch {
                #expect(decoder.bufferedByteCount == 0)
                return parsed
            }
        }
        return parsed
    }

    @Test func randomBytes() {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<2000 {
            let count = Int.random(in: 0...300, using: &rng)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            chew(bytes, splits: &rng)
        }
    }

    /// Valid frames with a length prefix kept small enough to pass, and random type and body: exercises every
    /// parser with garbage bodies.
    @Test func randomBodiesBehindValidPrefixes() {
        var rng = SplitMix64(seed: 2)
        let types = MessageType.allCases.map(\.rawValue) + [0, 0x7F, 0x80, 0xFF]
        for _ in 0..<20_000 {
            let type = types.randomElement(using: &rng)!
            let body = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            chew(Frame(type: type, body: body[...]).bytes, splits: &rng)
        }
    }

    /// Valid streams with single bytes flipped, dropped or repeated.
    @Test func mutatedValidStreams() {
        var rng = SplitMix64(seed: 3)
        let valid = sampleClientMessages.flatMap { $0.encoded() } + sampleServerMessages.flatMap { $0.encoded() }
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(bytes[i], at: i)
                }
            }
            chew(bytes, splits: &rng, limit: 1 << 16)
        }
    }
}
