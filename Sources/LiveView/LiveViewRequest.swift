import ConnectionAdmission
import EarshotTypes
import Foundation
import NIOHTTP1

/// A request to the live view, parsed: where it goes, its query, and whether it may.
struct LiveViewRequest {
    enum Route {
        /// One of the page's own files.
        case asset(LiveViewAssets.Asset)
        /// `/v1/status`: the status document.
        case status
        /// `/v1/streams/{name}/ws`: the stream's tokens and events.
        case tokens(stream: String)
        /// `/v1/streams/{name}/mel/ws`: the stream's log-mel frames.
        case spectrogram(stream: String)
        /// `/v1/push/ws`: the browser's audio in, its tokens out.
        case push
        case notFound
    }

    let route: Route
    let query: [String: String]

    init(uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count == 2 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ")
                                                .removingPercentEncoding ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        self.query = query
        route = Self.route(path)
    }

    /// The table of the page's files, then the API's paths; nothing else exists.
    private static func route(_ path: String) -> Route {
        if let asset = LiveViewAssets.byPath[path] { return .asset(asset) }
        if path == "/v1/status" { return .status }
        if path == "/v1/push/ws" { return .push }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // "", "v1", "streams", name, ("mel",) "ws"
        guard parts.count >= 5, parts[0].isEmpty, parts[1] == "v1", parts[2] == "streams", parts.last == "ws",
              let name = String(parts[3]).removingPercentEncoding, !name.isEmpty else { return .notFound }
        switch parts.count {
        case 5: return .tokens(stream: name)
        case 6 where parts[4] == "mel": return .spectrogram(stream: name)
        default: return .notFound
        }
    }

    /// Whether a bearer token is needed for this route: the API's, not the page's files.
    var needsToken: Bool {
        if case .asset = route { return false }
        if case .notFound = route { return false }
        return true
    }

    /// Whether `headers` (or the query's `token`) carry `expected`; true when no token is configured.
    func isAuthorized(_ headers: HTTPHeaders, expected: String?) -> Bool {
        guard let expected, needsToken else { return true }
        let want = Array(expected.utf8)
        if let header = headers.first(name: "authorization"), header.hasPrefix("Bearer ") {
            return BearerToken.constantTimeEqual(Array(header.dropFirst("Bearer ".count).utf8), want)
        }
        if let token = query["token"] { return BearerToken.constantTimeEqual(Array(token.utf8), want) }
        return false
    }

    /// A browser's cross-site request: its `Origin` names another host than the one it asked. Such a page must not
    /// read a feed (cross-site WebSocket hijacking: a WebSocket is not held to the same-origin policy).
    static func isCrossOrigin(_ headers: HTTPHeaders) -> Bool {
        guard let origin = headers.first(name: "origin") else { return false }   // not a browser
        guard let host = headers.first(name: "host"), let url = URL(string: origin), let originHost = url.host else {
            return true
        }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        return originAuthority.lowercased() != host.lowercased()
    }

    /// A loopback listener without a token reached under another name: a DNS-rebinding page (evil.example resolving to
    /// 127.0.0.1) would be same-origin with itself and read the feeds. Such a listener answers only `Host`s that
    /// name this machine: `localhost`, a 127.0.0.0/8 address or `[::1]`, with any port.
    static func isForeignHost(_ headers: HTTPHeaders) -> Bool {
        guard let host = headers.first(name: "host")?.lowercased() else { return true }
        let name: Substring
        if host.hasPrefix("[") {
            name = host.dropFirst().prefix { $0 != "]" }
        } else {
            name = host.prefix { $0 != ":" }
        }
        return !(name == "localhost" || ListenAddress(host: String(name), port: 0).isLoopback)
    }
}
