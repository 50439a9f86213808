import NIOCore

/// What one network listener allows: how many connections at once, how soon a new connection must make its first
/// request, and how long a connection may hold no request before it is closed.
///
/// A "request" is what the listener serves: an HTTP request for the metrics listener, a call (an HTTP/2 stream) for
/// gRPC. Bytes alone do not count, so a client cannot hold a slot by trickling a header or by pinging.
package struct AdmissionLimits: Sendable, Equatable {
    /// Connections open at once; one more is closed as it is accepted.
    package var maxConnections: Int
    /// From accept to the first request (TLS handshake and HTTP/2 preface, or the whole first HTTP header,
    /// included).
    package var firstRequestTimeout: TimeAmount
    /// With no request open, how long before the connection is closed.
    package var idleTimeout: TimeAmount

    package init(maxConnections: Int, firstRequestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.maxConnections = maxConnections
        self.firstRequestTimeout = firstRequestTimeout
        self.idleTimeout = idleTimeout
    }
}
