/// Text a client chooses — its name in `hello`, a pushed stream's label — which the daemon keeps, shows in its status
/// and logs, and prints to an operator's terminal: bounded when it is accepted, escaped when it is shown.
package enum ClientText {
    /// The most UTF-8 bytes a client name or push label may have. Names a person reads, not payloads: 64 clients at
    /// the limit add 16 KiB to a status.
    package static let maxBytes = 256

    /// Why `text` is refused as `field`, or nil if it is accepted.
    package static func refusal(_ text: String, field: String) -> String? {
        let bytes = text.utf8.count
        guard bytes > maxBytes else { return nil }
        return "\(field) is \(bytes) bytes; the limit is \(maxBytes)"
    }

    /// `text` safe to print on a terminal or in a log line: every control character (C0, DEL, C1: escape sequences,
    /// newlines that fake log lines) and format character (bidirectional overrides, zero-width characters) written
    /// as `\u{1B}`, and `\` doubled so that an escape cannot be forged.
    package static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format:
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                if scalar == "\\" { out += "\\\\" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// JSON text (the status) safe to print: the control and format characters JSON lets through unescaped (DEL, C1,
    /// bidirectional overrides …; JSON escapes only C0) written as `\uXXXX` escapes, which decode to the same
    /// string. Outside strings JSON has only ASCII whitespace, so the result is the same JSON value.
    package static func escapedJSON(_ json: String) -> String {
        var out = ""
        out.reserveCapacity(json.utf8.count)
        for scalar in json.unicodeScalars {
            let category = scalar.properties.generalCategory
            if scalar.value >= 0x7F, category == .control || category == .format {
                for unit in String(scalar).utf16 { out += "\\u" + String(format4: unit) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

private extension String {
    /// Four uppercase hexadecimal digits.
    init(format4 unit: UInt16) {
        let digits = String(unit, radix: 16, uppercase: true)
        self = String(repeating: "0", count: 4 - digits.count) + digits
    }
}
