/// A TCP address to listen on, `HOST:PORT` (`[v6]:PORT` for IPv6 literals); port 0 picks a free one.
package struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `text`; `option` names the setting in the error.
    package init(parsing text: String, option: String) throws(DaemonError) {
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw DaemonError("\(option) '\(text)': expected [ADDRESS]:PORT") }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw DaemonError("\(option) '\(text)': expected HOST:PORT, e.g. 127.0.0.1:9464")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw DaemonError("\(option) '\(text)': the host is missing") }
        guard let port = Int(portPart), (0...65_535).contains(port) else {
            throw DaemonError("\(option) '\(text)': the port must be 0…65535")
        }
        self.init(host: String(hostPart), port: port)
    }

    /// True for addresses only this machine can reach.
    package var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
