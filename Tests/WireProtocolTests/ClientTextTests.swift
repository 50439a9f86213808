import Foundation
import Testing
import WireProtocol

/// Client names and push labels: bounded at decoding (``ClientText/maxBytes``, in UTF-8 bytes), shown escaped.
@Suite struct ClientTextTests {
    func decode(_ message: ClientMessage) throws(ProtocolError) -> ClientMessage {
        let bytes = message.encoded()
        return try ClientMessage(frame: Frame(type: bytes[4], body: bytes[5...]))
    }

    @Test func namesAndLabelsUpToTheLimitPassAndOneByteMoreIsRefusedByName() throws {
        // "é" is two bytes: 128 of them are exactly 256 bytes; one more ASCII byte is over.
        let atLimit = String(repeating: "é", count: 128)
        #expect(atLimit.utf8.count == ClientText.maxBytes)
        #expect(try decode(.hello(Hello(clientName: atLimit))) == .hello(Hello(clientName: atLimit)))
        let push = PushStart(request: 1, format: .s16le, sampleRate: 16_000, channels: 1, label: atLimit)
        #expect(try decode(.pushStart(push)) == .pushStart(push))

        do {
            _ = try decode(.hello(Hello(clientName: atLimit + "x")))
            Issue.record("a 257-byte client name was accepted")
        } catch {
            #expect(error.code == .malformedFrame)
            #expect(error.message == "hello: the client name is 257 bytes; the limit is 256")
        }
        var long = push
        long.label = String(repeating: "a", count: 60_000)   // the wire's string length is 16 bits
        do {
            _ = try decode(.pushStart(long))
            Issue.record("a 60 kB label was accepted")
        } catch {
            #expect(error.code == .malformedFrame)
            #expect(error.message == "pushStart: the label is 60000 bytes; the limit is 256")
        }
    }

    @Test func controlAndFormatCharactersAreShownEscaped() {
        // Clear screen, a window title, a forged log line, a bidi override, DEL and C1's CSI.
        let hostile = "\u{1B}[2J\u{1B}]0;pwned\u{07}name\nlevel=error fake\u{202E}txt\u{7F}\u{9B}31m"
        let shown = ClientText.escaped(hostile)
        #expect(shown == #"\u{1B}[2J\u{1B}]0;pwned\u{7}name\u{A}level=error fake\u{202E}txt\u{7F}\u{9B}31m"#)
        #expect(!shown.unicodeScalars.contains { $0.properties.generalCategory == .control })
        // Plain text, accents and emoji pass unchanged; a backslash is doubled so "\u{1B}" cannot be forged.
        #expect(ClientText.escaped("mic-1 café 🎤") == "mic-1 café 🎤")
        #expect(ClientText.escaped(#"a\u{1B}"#) == #"a\\u{1B}"#)
    }

    @Test func statusJSONKeepsItsValueAndLosesItsRawControlCharacters() throws {
        // What JSONEncoder lets through: DEL, C1's CSI, a bidi override, a tag character (outside the BMP).
        let name = "a\u{7F}b\u{9B}31m\u{202E}c\u{E0041}"
        let json = #"{"name":""# + name + #"","n":1}"#
        let shown = ClientText.escapedJSON(json)
        #expect(shown == #"{"name":"a\u007Fb\u009B31m\u202Ec\uDB40\uDC41","n":1}"#)
        let decoded = try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any]
        #expect(decoded?["name"] as? String == name)
    }
}
