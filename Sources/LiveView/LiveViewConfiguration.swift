import ConnectionAdmission
import EarshotTypes
import NIOSSL

/// Where and how the live view listens (`earshotd --http-address HOST:PORT` and its companions; off by default).
///
/// The security rules are gRPC's (docs/grpc.md), checked by ``validated()`` before anything listens:
/// - TLS needs both `tlsCertificatePath` and `tlsKeyPath` (PEM); both must load.
/// - Without TLS the address must be loopback (127.0.0.0/8, ::1, localhost) unless `allowPlaintextNonLoopback`.
/// - `bearerToken`, if set, is required of the data endpoints (`/v1/…`): as `Authorization: Bearer <token>`, or as
///   `?token=<token>` (a browser cannot set a header on a WebSocket). The page's own files are served without it:
///   they are the same in every daemon and carry no data.
package struct LiveViewConfiguration: Sendable {
    package var address: ListenAddress
    package var tlsCertificatePath: String?
    package var tlsKeyPath: String?
    package var bearerToken: String?
    /// Serve without TLS on a non-loopback address (a trusted network, or TLS terminated in front).
    package var allowPlaintextNonLoopback = false
    /// The listener's connections: cap and deadlines (the socket's by default).
    package var connections = AdmissionLimits(maxConnections: 64, firstRequestTimeout: .seconds(10),
                                              idleTimeout: .seconds(300))
    /// Live tokens a feed's queue holds before the subscription is skipped and a `lagged` event marks the gap (the
    /// socket's `sendQueueFrames`).
    package var liveQueueTokens = 1024
    /// Events a feed may leave unsent before it is closed (gRPC's `maxUnreadResponses`).
    package var maxUnsentEvents = 8192
    /// Log-mel frames (10 ms each) a spectrogram feed holds for a slow reader before dropping the oldest.
    package var melQueueFrames = 500
    /// The largest message a browser may send (a push's audio chunk), in bytes: the socket's `maxFrameBytes`.
    package var maxFrameBytes = 1 << 20
    /// How long feeds may take to send what they hold once the daemon stops.
    package var drainTimeout: Duration = .seconds(1)

    package init(address: ListenAddress) {
        self.address = address
    }

    package var usesTLS: Bool { tlsCertificatePath != nil || tlsKeyPath != nil }

    /// Checks the rules above and loads the TLS files, so a mistake is a clear error at startup.
    package func validated() throws(LiveViewConfigurationError) -> Self {
        switch (tlsCertificatePath, tlsKeyPath) {
        case (nil, nil):
            if !address.isLoopback && !allowPlaintextNonLoopback {
                throw LiveViewConfigurationError("""
                    --http-address \(address) is not loopback: serving it without TLS would expose embeddings \
                    (and any bearer token) in clear. Pass --http-tls-cert and --http-tls-key, or \
                    --http-allow-plaintext if the network is trusted.
                    """)
            }
        case (let certificate?, let key?):
            do {
                try TLSFiles.check(certificate: certificate, key: key, clientCA: nil, optionPrefix: "--http")
            } catch {
                throw LiveViewConfigurationError(error.description)
            }
        default:
            throw LiveViewConfigurationError("TLS needs both --http-tls-cert and --http-tls-key")
        }
        if let bearerToken, bearerToken.isEmpty { throw LiveViewConfigurationError("the bearer token is empty") }
        return self
    }

    /// The TLS context, or nil without TLS.
    func sslContext() throws -> NIOSSLContext? {
        guard let certificate = tlsCertificatePath, let key = tlsKeyPath else { return nil }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A live-view setting that cannot work, in one line.
package struct LiveViewConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
