import EarshotGRPC
import Foundation
import GRPCCore
import Testing

/// TLS, mutual TLS and the bearer token against a real server, with a CA made for each test.
@Suite struct GRPCSecurityTests {
    private func status(_ options: GRPCClientOptions) async throws -> String {
        try await withEarshotClient(options) { earshot, _ in
            try await earshot.status(Earshot_V1_StatusRequest()).json
        }
    }

    private func fails(_ body: () async throws -> Void) async -> (any Error)? {
        do {
            try await body()
            return nil
        } catch {
            return error
        }
    }

    @Test func tlsServesAClientThatTrustsTheCA() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        var configuration = loopback()
        configuration.tlsCertificatePath = pki.serverCertificate
        configuration.tlsKeyPath = pki.serverKey
        try await withServer(configuration) { port in
            var options = GRPCClientOptions(host: "localhost", port: port)
            options.caPath = pki.caCertificate
            let json = try await status(options)
            #expect(json.contains("test"))
            // A plaintext client cannot talk to a TLS server.
            #expect(await fails { _ = try await status(GRPCClientOptions(host: "127.0.0.1", port: port)) } != nil)
            // A client that trusts another CA refuses the server.
            var stranger = GRPCClientOptions(host: "localhost", port: port)
            stranger.caPath = pki.directory + "/stranger-ca.pem"
            #expect(await fails { _ = try await status(stranger) } != nil)
        }
    }

    @Test func mutualTLSRefusesAClientWithoutACertificateFromTheCA() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        var configuration = loopback()
        configuration.tlsCertificatePath = pki.serverCertificate
        configuration.tlsKeyPath = pki.serverKey
        configuration.clientCAPath = pki.caCertificate
        try await withServer(configuration) { port in
            var anonymous = GRPCClientOptions(host: "localhost", port: port)
            anonymous.caPath = pki.caCertificate
            #expect(await fails { _ = try await status(anonymous) } != nil)

            var stranger = anonymous
            stranger.certificatePath = pki.strangerCertificate
            stranger.keyPath = pki.strangerKey
            #expect(await fails { _ = try await status(stranger) } != nil)

            var member = anonymous
            member.certificatePath = pki.clientCertificate
            member.keyPath = pki.clientKey
            let json = try await status(member)
            #expect(json.contains("test"))
        }
    }

    @Test func theBearerTokenIsRequiredOfEverythingButHealth() async throws {
        var configuration = loopback()
        configuration.bearerToken = "s3cret-token"
        try await withServer(configuration) { port in
            func code(_ token: String?) async -> RPCError.Code? {
                var options = GRPCClientOptions(host: "127.0.0.1", port: port)
                options.bearerToken = token
                return (await fails { _ = try await status(options) } as? RPCError)?.code
            }
            #expect(await code(nil) == .unauthenticated)
            #expect(await code("wrong") == .unauthenticated)
            #expect(await code("s3cret-tokenX") == .unauthenticated)
            #expect(await code("s3cret-token") == nil)
            let health = try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) { _, health in
                try await health.check(.with { $0.service = "" }).status
            }
            #expect(health == .serving)
        }
    }

    @Test func tokenFilesAreOneWord() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "  abc123\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try BearerTokenInterceptor.readToken(file: path) == "abc123")
        try "\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: GRPCConfigurationError.self) { try BearerTokenInterceptor.readToken(file: path) }
        try "two words".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: GRPCConfigurationError.self) { try BearerTokenInterceptor.readToken(file: path) }
    }
}

/// What `--grpc-address` and its companions accept, before anything listens.
@Suite struct GRPCServerConfigurationTests {
    @Test func plaintextOnlyOnLoopbackUnlessAllowed() throws {
        for host in ["127.0.0.1", "127.3.2.1", "::1", "localhost"] {
            #expect(throws: Never.self) { _ = try GRPCServerConfiguration(host: host, port: 50051).validated() }
        }
        for host in ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1"] {
            #expect(throws: GRPCConfigurationError.self) {
                _ = try GRPCServerConfiguration(host: host, port: 50051).validated()
            }
            var allowed = GRPCServerConfiguration(host: host, port: 50051)
            allowed.allowPlaintextNonLoopback = true
            #expect(throws: Never.self) { _ = try allowed.validated() }
        }
        #expect(throws: GRPCConfigurationError.self) {
            _ = try GRPCServerConfiguration(host: "example.com", port: 50051).validated()
        }
    }

    @Test func tlsFilesAreCheckedAtStartup() throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        var c = GRPCServerConfiguration(host: "0.0.0.0", port: 0)
        c.tlsCertificatePath = pki.serverCertificate
        #expect(throws: GRPCConfigurationError.self) { _ = try c.validated() }          // no key
        c.tlsKeyPath = pki.directory + "/missing.key"
        #expect(throws: GRPCConfigurationError.self) { _ = try c.validated() }
        c.tlsKeyPath = pki.serverKey
        #expect(throws: Never.self) { _ = try c.validated() }
        c.clientCAPath = pki.serverKey                                                  // not a certificate
        #expect(throws: GRPCConfigurationError.self) { _ = try c.validated() }
        var plain = GRPCServerConfiguration(host: "127.0.0.1", port: 0)
        plain.clientCAPath = pki.caCertificate
        #expect(throws: GRPCConfigurationError.self) { _ = try plain.validated() }      // mTLS needs TLS
    }

    @Test func addressesParse() throws {
        let v4 = try GRPCServerConfiguration(address: "0.0.0.0:50051")
        #expect(v4.host == "0.0.0.0" && v4.port == 50051)
        let v6 = try GRPCServerConfiguration(address: "[::1]:7")
        #expect(v6.host == "::1" && v6.port == 7 && v6.isLoopback)
        let portOnly = try GRPCServerConfiguration(address: ":9000")
        #expect(portOnly.host == "127.0.0.1" && portOnly.port == 9000)
        for bad in ["50051", "::1:50051", "host:99999", "host:", "[::1]50051"] {
            #expect(throws: GRPCConfigurationError.self) { _ = try GRPCServerConfiguration(address: bad) }
        }
    }
}
