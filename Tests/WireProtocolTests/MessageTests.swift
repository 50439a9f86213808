import Testing
@testable import WireProtocol

@Suite struct MessageTests {
    @Test func everyMessageTypeIsCoveredBySamples() {
        let seen = Set(sampleClientMessages.map(\.type) + sampleServerMessages.map(\.type))
        #expect(seen == Set(MessageType.allCases))
    }

    @Test func payloadsDecodeToTheirRounding() {
        for payload in PayloadType.allCases {
            let e = embedding(payload: payload)
            #expect(e.width == sampleValues.count)
            #expect(e.bytes.count == sampleValues.count * payload.byteWidth)
            let values = e.values()
            for (got, want) in zip(values, sampleValues) {
                switch payload {
                case .f32: #expect(got.bitPattern == want.bitPattern)
                case .f16: #expect(abs(got - want) <= abs(want) * 0x1p-11 + 0x1p-24)
                case .bf16: #expect(abs(got - want) <= abs(want) * 0x1p-8)
                }
            }
        }
    }

    /// The wire's 16-bit payloads, byte for byte (little-endian, rounded to nearest even, f16 overflowing to
    /// infinity), and every f16 and bf16 pattern decodes to the float it stands for.
    @Test func sixteenBitPayloadsAreExactBits() {
        let values: [Float] = [1, -2.5, 65520, 0x1p-25, .infinity, Float(bitPattern: 0x3F81_8000)]
        let expected: [PayloadType: [UInt16]] = [.f16: [0x3C00, 0xC100, 0x7C00, 0x0000, 0x7C00, 0x3C0C],
                                                 .bf16: [0x3F80, 0xC020, 0x4780, 0x3300, 0x7F80, 0x3F82]]
        let patterns = (0...UInt16.max).flatMap { [UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)] }
        for (type, halves) in expected {
            var writer = ByteWriter()
            values.withUnsafeBufferPointer { writer.values($0, as: type) }
            #expect(writer.bytes == halves.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)] }, "\(type)")
            #if arch(x86_64) || arch(arm64)   // where Float16 exists
            let decoded = type.decode(patterns[...], count: 65536)
            let wrong = (0...UInt16.max).filter { bits in
                let want = type == .f16 ? Float(Float16(bitPattern: bits)) : Float(bitPattern: UInt32(bits) << 16)
                return want.isNaN ? !decoded[Int(bits)].isNaN : want.bitPattern != decoded[Int(bits)].bitPattern
            }
            #expect(wrong.isEmpty, "\(type): \(wrong.count) patterns decode wrongly")
            #endif
        }
    }

    @Test func helloWithoutMagicIsRefused() {
        var body: [UInt8] = Array("HTTP".utf8) + [1, 0, 1, 0, 0, 0]
        var frame = Frame(type: MessageType.hello.rawValue, body: body[...])
        #expect(throws: ProtocolError.self) { try ClientMessage(frame: frame) }
        body = Handshake.magic + [2, 0, 1, 0, 0, 0]                // empty range 2…1
        frame = Frame(type: MessageType.hello.rawValue, body: body[...])
        do { _ = try ClientMessage(frame: frame); Issue.record("accepted") } catch { #expect(error.code == .malformedFrame) }
    }

    @Test func versionNegotiation() throws {
        #expect(try Handshake.negotiate(1...1, supported: 1...1) == 1)
        #expect(try Handshake.negotiate(1...5, supported: 1...3) == 3)
        #expect(try Handshake.negotiate(2...9, supported: 1...3) == 3)
        do { _ = try Handshake.negotiate(2...9, supported: 1...1); Issue.record("negotiated") } catch {
            #expect(error.code == .unsupportedVersion)
        }
        do { _ = try Handshake.negotiate(0...0); Issue.record("negotiated") } catch {
            #expect(error.code == .unsupportedVersion)
        }
    }

    @Test func directionIsChecked() throws {
        let ping = ClientMessage.ping(nonce: 1).encoded()
        let pong = ServerMessage.pong(nonce: 1, serverTimeNanoseconds: 2).encoded()
        #expect(throws: ProtocolError.self) { try ServerMessage(frame: Frame(type: ping[4], body: ping[5...])) }
        #expect(throws: ProtocolError.self) { try ClientMessage(frame: Frame(type: pong[4], body: pong[5...])) }
    }

    @Test func truncatedAndPaddedBodiesAreMalformed() {
        for message in sampleClientMessages {
            let bytes = message.encoded()
            let body = bytes[5...]
            if case .pushAudio = message { continue }               // its PCM runs to the end: any length parses
            // subscribe and pushStart end with an optional options byte: a body without it is the legacy layout.
            let options = message.streamOptions
            for cut in 0..<body.count where !(options.map { !$0.isEmpty && cut == body.count - 1 } ?? false) {
                let frame = Frame(type: bytes[4], body: body.prefix(cut))
                #expect(throws: ProtocolError.self) { try ClientMessage(frame: frame) }
            }
            let padded = Frame(type: bytes[4], body: ArraySlice(Array(body) + [0]))
            #expect(throws: ProtocolError.self) { try ClientMessage(frame: padded) }
        }
        for message in sampleServerMessages {
            if case .status = message { continue }                   // JSON runs to the end
            let bytes = message.encoded()
            let body = bytes[5...]
            for cut in 0..<body.count {
                let frame = Frame(type: bytes[4], body: body.prefix(cut))
                #expect(throws: ProtocolError.self) { try ServerMessage(frame: frame) }
            }
        }
    }

    /// A v1 `subscribe` body from before voice activity (no options byte), byte for byte as docs/protocol.md's
    /// session shows it, still parses; the options byte follows the legacy body exactly.
    @Test func subscribeOptionsAreAnOptionalTrailingByte() throws {
        let legacy: [UInt8] = [1, 0, 0, 0, 3, 0, 0x6d, 0x69, 0x63, 0, 0, 0]
        let parsed = try ClientMessage(frame: Frame(type: 0x02, body: legacy[...]))
        #expect(parsed == .subscribe(Subscribe(request: 1, stream: "mic")))
        #expect(Array(parsed.encoded()[5...]) == legacy)
        let speech = ClientMessage.subscribe(Subscribe(request: 1, stream: "mic", options: [.speechOnly])).encoded()
        #expect(Array(speech[5...]) == legacy + [0x02])
        for extra: UInt8 in [0x00, 0x04] {          // no options is no byte; bit 2 is unknown
            do { _ = try ClientMessage(frame: Frame(type: 0x02, body: ArraySlice(legacy + [extra]))); Issue.record("accepted") }
            catch { #expect(error.code == .malformedFrame) }
        }
        let push = ClientMessage.pushStart(PushStart(request: 2, format: .s16le, sampleRate: 16000, channels: 1,
                                                     label: "a", options: [.speechEvents])).encoded()
        //       request      format rate              channels payload output label       options
        #expect(Array(push[5...]) == [2, 0, 0, 0, 0, 0x80, 0x3e, 0, 0, 1, 0, 0, 0, 1, 0, 0x61, 0x01])
    }

    /// Speech events and the speech flag, byte for byte.
    @Test func speechEventsAndFlagLayout() throws {
        let event = ServerMessage.event(StreamEvent(stream: 3, kind: .speechEnd, at: 48096)).encoded()
        //                              stream      kind  at (48096 = 0xBBE0)      count                   message
        #expect(Array(event[5...]) == [3, 0, 0, 0, 8, 0xE0, 0xBB, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [0, 0])
        #expect(EventKind.speechStart.rawValue == 7)
        #expect(TokenFlags.speech.rawValue == 0x10)
        let e = embedding(payload: .f32)
        #expect(e.header.flags == [.discontinuity, .final, .speech])
        #expect(e.header.flags.rawValue == 0b1_0101)
    }

    @Test func longStringsAreCutAtACharacterBoundary() throws {
        let long = String(repeating: "é", count: 40_000)          // 80 000 bytes of UTF-8
        // A stream name: client names and labels are refused past 256 bytes when decoded (ClientTextTests).
        let bytes = ClientMessage.subscribe(Subscribe(request: 1, stream: long)).encoded()
        var decoder = FrameDecoder(maxFrameLength: 1 << 20)
        decoder.append(bytes)
        guard case .subscribe(let subscribe) = try ClientMessage(frame: try decoder.next()!) else {
            Issue.record("not subscribe"); return
        }
        #expect(subscribe.stream.utf8.count <= Int(UInt16.max))
        #expect(subscribe.stream.allSatisfy { $0 == "é" })
    }
}

extension ClientMessage {
    /// The options of a `subscribe` or `pushStart` (the messages with an optional trailing byte); nil for others.
    var streamOptions: StreamOptions? {
        switch self {
        case .subscribe(let m): m.options
        case .pushStart(let m): m.options
        default: nil
        }
    }
}
