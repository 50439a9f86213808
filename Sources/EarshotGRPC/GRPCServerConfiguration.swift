import ConnectionAdmission
import EarshotTypes
import Foundation
import GRPCNIOTransportHTTP2Posix
import NIOSSL

/// Where and how the gRPC service listens (`earshotd --grpc-address HOST:PORT` and its companions; off by default).
///
/// Security rules, checked by ``validated()`` before anything listens:
/// - TLS needs both `tlsCertificatePath` and `tlsKeyPath` (PEM); both must load.
/// - `clientCAPath` (PEM) turns on mutual TLS: a client must present a certificate signed by that CA.
/// - Without TLS the address must be loopback (127.0.0.0/8, ::1, localhost) unless `allowPlaintextNonLoopback`.
/// - `bearerToken`, if set, is required of every call but the health service's.
package struct GRPCServerConfiguration: Sendable, Equatable {
    /// An IP literal or `localhost`; `0.0.0.0` or `::` for every interface.
    package var host: String
    /// 0 picks a free port (tests).
    package var port: Int
    package var tlsCertificatePath: String?
    package var tlsKeyPath: String?
    /// Clients must present a certificate this CA signed.
    package var clientCAPath: String?
    package var bearerToken: String?
    /// Serve without TLS on a non-loopback address (a trusted network, or TLS terminated in front).
    package var allowPlaintextNonLoopback = false
    package var limits = GRPCCallLimits()
    /// The gRPC listener's connections: at most `maxConnections` open (one more is closed at accept), the first
    /// call within `firstRequestTimeout` of accepting (TLS handshake included), and closed after `idleTimeout` with
    /// no call open (GOAWAY first, then closed whether or not the client answers). Defaults: the socket's.
    package var connections = AdmissionLimits(maxConnections: 64, firstRequestTimeout: .seconds(10),
                                              idleTimeout: .seconds(300))
    /// The largest request message (an audio chunk), in bytes: the socket's `maxFrameBytes`.
    package var maxRequestBytes = 1 << 20
    /// Calls at once on one HTTP/2 connection, announced in the server's SETTINGS (SETTINGS_MAX_CONCURRENT_STREAMS)
    /// so clients queue further calls instead of opening streams NIO would answer with a GOAWAY that ends the whole
    /// connection. 100 is also what NIO enforces before the client acknowledges the SETTINGS.
    package var maxConcurrentStreams = 100
    /// A second, plain-text listener that serves only `grpc.health.v1.Health` (Kubernetes' `grpc:` probes speak
    /// neither TLS nor bearer tokens). It tells only whether the daemon serves, so it may listen on any address.
    package var healthAddress: ListenAddress?
    /// The health listener's connections (probes open one per check and close it).
    package var healthConnections = AdmissionLimits(maxConnections: 16, firstRequestTimeout: .seconds(10),
                                                    idleTimeout: .seconds(300))

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (loopback): ``ListenAddress``'s rules.
    package init(address: String) throws(GRPCConfigurationError) {
        do {
            let parsed = try ListenAddress(parsing: address, option: "--grpc-address")
            self.init(host: parsed.host, port: parsed.port)
        } catch {
            throw GRPCConfigurationError(error.description)
        }
    }

    package var usesTLS: Bool { tlsCertificatePath != nil || tlsKeyPath != nil }

    /// The address to bind, or an error for a host that is not an IP literal or `localhost`.
    package func socketAddress() throws(GRPCConfigurationError) -> GRPCNIOTransportCore.SocketAddress {
        if host == "localhost" { return .ipv4(host: "127.0.0.1", port: port) }
        if Self.isIPv4(host) { return .ipv4(host: host, port: port) }
        if Self.isIPv6(host) { return .ipv6(host: host, port: port) }
        throw GRPCConfigurationError("--grpc-address: '\(host)' is not an IP address (use an address, or localhost)")
    }

    /// Whether `host` only reaches this machine.
    package var isLoopback: Bool { ListenAddress(host: host, port: port).isLoopback }

    /// Checks the security rules and loads the TLS files once, so a mistake is a clear error at startup.
    package func validated() throws(GRPCConfigurationError) -> Self {
        _ = try socketAddress()
        switch (tlsCertificatePath, tlsKeyPath) {
        case (nil, nil):
            if clientCAPath != nil {
                throw GRPCConfigurationError("--grpc-client-ca needs TLS: pass --grpc-tls-cert and --grpc-tls-key")
            }
            if !isLoopback && !allowPlaintextNonLoopback {
                throw GRPCConfigurationError("""
                    --grpc-address \(host):\(port) is not loopback: serving it without TLS would expose embeddings \
                    (and any bearer token) in clear. Pass --grpc-tls-cert and --grpc-tls-key, or \
                    --grpc-allow-plaintext if the network is trusted.
                    """)
            }
        case (let certificate?, let key?):
            do {
                try TLSFiles.check(certificate: certificate, key: key, clientCA: clientCAPath, optionPrefix: "--grpc")
            } catch {
                throw GRPCConfigurationError(error.description)
            }
        default:
            throw GRPCConfigurationError("TLS needs both --grpc-tls-cert and --grpc-tls-key")
        }
        if let bearerToken, bearerToken.isEmpty { throw GRPCConfigurationError("the bearer token is empty") }
        return self
    }

    /// The transport's security: plaintext, TLS, or TLS requiring a client certificate from `clientCAPath`.
    package var transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        guard let certificate = tlsCertificatePath, let key = tlsKeyPath else { return .plaintext }
        let chain: [TLSConfig.CertificateSource] = [.file(path: certificate, format: .pem)]
        let privateKey: TLSConfig.PrivateKeySource = .file(path: key, format: .pem)
        guard let clientCAPath else { return .tls(certificateChain: chain, privateKey: privateKey) }
        return .mTLS(certificateChain: chain, privateKey: privateKey) { tls in
            tls.trustRoots = .certificates([.file(path: clientCAPath, format: .pem)])
            // Clients are identified by their certificate's chain, not by a host name.
            tls.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// Whether `host` is an IPv6 address (not a name).
    package var isIPv6Literal: Bool { Self.isIPv6(host) }

    private static func isIPv4(_ host: String) -> Bool {
        var a = in_addr()
        return inet_pton(AF_INET, host, &a) == 1
    }

    private static func isIPv6(_ host: String) -> Bool {
        var a = in6_addr()
        return inet_pton(AF_INET6, host, &a) == 1
    }
}

/// A gRPC setting that cannot work, in one line.
package struct GRPCConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
