import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// How a client reaches the gRPC service (`earshot push --grpc HOST:PORT` and tests).
package struct GRPCClientOptions: Sendable {
    package var host: String
    package var port: Int
    /// TLS: trust this CA's PEM (nil with `tls`: the system's roots).
    package var caPath: String?
    /// Mutual TLS: this client's PEM certificate and key.
    package var certificatePath: String?
    package var keyPath: String?
    /// Use TLS (implied by any of the paths).
    package var tls = false
    /// The name the server's certificate must carry (default: `host`).
    package var serverName: String?
    package var bearerToken: String?
    /// Calls wait for a connection, retrying it, instead of failing at the first failed attempt (for a server that
    /// is just starting; bound the wait with the caller's own timeout). Off: a command fails fast and says why.
    package var waitForReady = false
    /// How many bytes the server may send ahead of what this client has read (its HTTP/2 flow-control window; nil:
    /// the transport's 8 MiB). A small window makes a caller that stops reading hold the server's writes up soon.
    package var receiveWindowBytes: Int?

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPv6]:PORT` (as the daemon's `--grpc-address`).
    package init(address: String) throws(GRPCConfigurationError) {
        let server = try GRPCServerConfiguration(address: address)
        self.init(host: server.host, port: server.port)
    }

    package var usesTLS: Bool { tls || caPath != nil || certificatePath != nil || keyPath != nil }

    package func makeTransport() throws -> HTTP2ClientTransport.Posix {
        let security: HTTP2ClientTransport.Posix.TransportSecurity
        if usesTLS {
            var config = HTTP2ClientTransport.Posix.TransportSecurity.TLS.defaults
            if let caPath { config.trustRoots = .certificates([.file(path: caPath, format: .pem)]) }
            switch (certificatePath, keyPath) {
            case (let certificate?, let key?):
                config.certificateChain = [.file(path: certificate, format: .pem)]
                config.privateKey = .file(path: key, format: .pem)
            case (nil, nil):
                break
            default:
                throw GRPCConfigurationError("a client certificate needs both --tls-cert and --tls-key")
            }
            security = .tls(config)
        } else {
            security = .plaintext
        }
        let config = HTTP2ClientTransport.Posix.Config.defaults { config in
            if let serverName { config.http2.authority = serverName }
            if let receiveWindowBytes { config.http2.targetWindowSize = receiveWindowBytes }
        }
        let serviceConfig = ServiceConfig(methodConfig: waitForReady
            ? [MethodConfig(names: [MethodConfig.Name(service: "")], waitForReady: true)] : [])
        // An IP literal is its own target: a DNS target would put the address in TLS's SNI, which must be a name.
        let target: any ResolvableTarget
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            target = .ipv4(address: host, port: port)
        } else if GRPCServerConfiguration(host: host, port: port).isIPv6Literal {
            target = .ipv6(address: host, port: port)
        } else {
            target = .dns(host: host, port: port)
        }
        return try HTTP2ClientTransport.Posix(target: target, transportSecurity: security, config: config,
                                              serviceConfig: serviceConfig)
    }

    package var interceptors: [any ClientInterceptor] {
        bearerToken.map { [BearerTokenClientInterceptor(token: $0)] } ?? []
    }
}

/// Runs `body` with a connected Earshot client and a health client on one connection, then closes it.
package func withEarshotClient<Result: Sendable>(
    _ options: GRPCClientOptions,
    _ body: (Earshot_V1_Earshot.Client<HTTP2ClientTransport.Posix>,
             Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    try await withGRPCClient(transport: try options.makeTransport(), interceptors: options.interceptors) { client in
        try await body(Earshot_V1_Earshot.Client(wrapping: client), Grpc_Health_V1_Health.Client(wrapping: client))
    }
}
