@testable import EarshotDaemon
import Foundation
import Testing

/// `--grpc-*` options and config keys (issue #14): parsed, merged like the others, and checked before the model loads.
@Suite struct GRPCSettingsTests {
    @Test func offUnlessAnAddressIsGiven() throws {
        #expect(try DaemonConfiguration().grpcServerConfiguration() == nil)
        var stray = DaemonConfiguration()
        stray.grpcTLSCert = "/etc/earshot/cert.pem"
        #expect(throws: DaemonError.self) { _ = try stray.grpcServerConfiguration() }
    }

    @Test func optionsAndConfigKeysMergeAndCarryTheSocketLimits() throws {
        let token = FileManager.default.temporaryDirectory.appendingPathComponent("grpc-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: token) }
        try "t0k3n\n".write(toFile: token, atomically: true, encoding: .utf8)
        var c = DaemonConfiguration()
        try c.apply(configText: """
            grpc-address = 127.0.0.1:50051
            grpc-token-file = \(token)
            max-clients = 7
            idle-timeout = 12
            """, path: "test.conf")
        let command = try EarshotdCommand.parse(["--grpc-address", "[::1]:6000"])
        #expect(try command.resolved().grpcAddress == "[::1]:6000")
        let grpc = try #require(try c.grpcServerConfiguration())
        #expect(grpc.host == "127.0.0.1" && grpc.port == 50051)
        #expect(grpc.bearerToken == "t0k3n")
        #expect(grpc.limits.startTimeout == .seconds(12))
    }

    @Test func plaintextOffLoopbackNeedsTheExplicitFlag() throws {
        var c = try EarshotdCommand.parse(["--grpc-address", "0.0.0.0:50051"]).resolved()
        #expect(throws: DaemonError.self) { _ = try c.grpcServerConfiguration() }
        c = try EarshotdCommand.parse(["--grpc-address", "0.0.0.0:50051", "--grpc-allow-plaintext"]).resolved()
        #expect(try c.grpcServerConfiguration()?.allowPlaintextNonLoopback == true)
        var fromFile = DaemonConfiguration()
        #expect(throws: DaemonError.self) {
            try fromFile.apply(configText: "grpc-allow-plaintext = maybe", path: "test.conf")
        }
    }
}
