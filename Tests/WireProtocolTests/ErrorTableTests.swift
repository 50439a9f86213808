import Foundation
import Testing
@testable import WireProtocol

/// docs/protocol.md's error table is the contract clients code against: every code the codec knows has its row,
/// and the row says when the codec uses it.
@Suite struct ErrorTableTests {
    /// The `when` column of the row for `code`, from docs/protocol.md.
    static func documentedCase(of code: ErrorCode) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/protocol.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let prefix = "| \(code.rawValue) | `\(code.name)` |"
        guard let row = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
            throw ProtocolError(.internalError, "docs/protocol.md has no row '\(prefix)'")
        }
        return String(row.split(separator: "|").last ?? "")
    }

    @Test func everyCodeHasARow() throws {
        for code in ErrorCode.allCases { _ = try Self.documentedCase(of: code) }
    }

    /// A zero length prefix is malformed (the frame has no type byte), not too large: the decoder says
    /// `malformed-frame` and the table puts it there, not under `frame-too-large`.
    @Test func aZeroLengthIsDocumentedAsMalformed() throws {
        var decoder = FrameDecoder(maxFrameLength: 100)
        decoder.append([0, 0, 0, 0, 1])
        var code: ErrorCode?
        do { _ = try decoder.next() } catch { code = error.code }
        #expect(code == .malformedFrame)
        #expect(try Self.documentedCase(of: .malformedFrame).contains("length prefix of 0"))
        #expect(try !Self.documentedCase(of: .frameTooLarge).contains("0"))
    }

    /// `hello` with `minVersion` > `maxVersion` offers no range at all: a malformed body, documented as such.
    @Test func anEmptyVersionRangeIsDocumentedAsMalformed() throws {
        let body = Handshake.magic + [2, 0, 1, 0, 0, 0]
        var code: ErrorCode?
        do { _ = try ClientMessage(frame: Frame(type: MessageType.hello.rawValue, body: body[...])) } catch {
            code = error.code
        }
        #expect(code == .malformedFrame)
        #expect(try Self.documentedCase(of: .malformedFrame).contains("`minVersion` > `maxVersion`"))
    }
}
