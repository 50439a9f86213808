/// One live stream to capture: its name and its source spec (see `CaptureSource`).
package struct SourceEntry: Sendable, Equatable {
    package var name: String
    package var spec: String
}

/// Parses `--source` values: `SPEC[,SPEC…]`, each optionally `NAME=SPEC`; `none` means push-only.
///
/// ALSA device names contain commas and `=` (`alsa:plughw:CARD=Mic,DEV=0`), so a comma starts a new source only if
/// what follows looks like one (`KIND:` or `NAME=KIND:` with KIND alsa, pulse, file or stdin, or `none`); anything
/// else continues the previous spec. The first unnamed source is `mic`; further sources must be named.
package enum SourceList {
    static let kinds = ["alsa", "pulse", "file", "stdin"]

    package static func parse(_ values: [String]) throws(DaemonError) -> [SourceEntry] {
        var specs: [String] = []
        for value in values {
            for piece in value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                if let last = specs.last, !startsSource(piece), last != "none" {
                    specs[specs.count - 1] = last + "," + piece
                } else {
                    specs.append(piece)
                }
            }
        }
        var entries: [SourceEntry] = []
        var sawNone = false
        for raw in specs {
            let spec = raw.trimmingCharacters(in: " ")
            if spec.isEmpty { throw DaemonError("--source: an empty source spec") }
            if spec == "none" {
                sawNone = true
                continue
            }
            var name = "mic"
            var body = spec
            if let (n, rest) = splitName(spec) {
                name = n
                body = rest
            } else if entries.contains(where: { $0.name == "mic" }) {
                throw DaemonError("--source: '\(spec)' needs a name (NAME=\(spec)): 'mic' is taken")
            }
            if entries.contains(where: { $0.name == name }) {
                throw DaemonError("--source: two sources are named '\(name)'")
            }
            entries.append(SourceEntry(name: name, spec: body))
        }
        if sawNone && !entries.isEmpty {
            throw DaemonError("--source: 'none' (push-only) cannot be combined with other sources")
        }
        return entries
    }

    /// `NAME=KIND:…` → (NAME, `KIND:…`) when NAME is a plain identifier.
    static func splitName(_ spec: String) -> (String, String)? {
        guard let eq = spec.firstIndex(of: "=") else { return nil }
        let name = String(spec[..<eq])
        let rest = String(spec[spec.index(after: eq)...])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }),
              hasKind(rest) else { return nil }
        return (name, rest)
    }

    static func hasKind(_ spec: String) -> Bool {
        guard let colon = spec.firstIndex(of: ":") else { return false }
        return kinds.contains(spec[..<colon].lowercased())
    }

    static func startsSource(_ piece: String) -> Bool {
        let p = piece.trimmingCharacters(in: " ")
        return p == "none" || hasKind(p) || splitName(p) != nil
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var s = Substring(self)
        while s.first == character { s = s.dropFirst() }
        while s.last == character { s = s.dropLast() }
        return String(s)
    }
}

/// A configuration or startup problem, told in one line.
package struct DaemonError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
