#if canImport(Glibc)
import Glibc
#endif

/// A TCP address to listen on, as the daemon's options give it: `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (loopback);
/// port 0 picks a free one. Parsed in this one place for every TCP listener (gRPC, gRPC health, metrics).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Why `text` is not an address; the message names `option`.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Parses `text`; `option` names the setting in the error (e.g. "--metrics-address").
    public init(parsing text: String, option: String) throws(ParseError) {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ParseError(description: "\(option) '\(text)': expected [IPv6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                throw ParseError(description: "\(option) '\(text)': expected HOST:PORT (an IPv6 host in brackets)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw ParseError(description: "\(option) '\(text)': the port must be 0…65535")
        }
        self.init(host: host.isEmpty ? "127.0.0.1" : String(host), port: port)
    }

    /// True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104.
    public var isLoopback: Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
