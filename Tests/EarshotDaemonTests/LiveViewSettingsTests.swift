@testable import EarshotDaemon
import Foundation
import LiveView
import Testing

/// `--http-*` options and config keys (issue #23): parsed, merged like the others, checked before the model loads.
@Suite struct LiveViewSettingsTests {
    @Test func offUnlessAnAddressIsGiven() throws {
        #expect(try DaemonConfiguration().liveViewConfiguration() == nil)
        var stray = DaemonConfiguration()
        stray.httpTokenFile = "/etc/earshot/http-token"
        #expect { _ = try stray.liveViewConfiguration() } throws: { error in
            "\(error)" == "http-token-file without http-address: the live view is off"
        }
    }

    @Test func optionsAndConfigKeysMergeAndCarryTheSocketLimits() throws {
        let token = FileManager.default.temporaryDirectory.appendingPathComponent("http-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: token) }
        try "w3b\n".write(toFile: token, atomically: true, encoding: .utf8)
        var c = DaemonConfiguration()
        try c.apply(configText: """
            http-address = 127.0.0.1:8023
            http-token-file = \(token)
            http-max-connections = 9
            send-queue-frames = 100
            """, path: "test.conf")
        let view = try #require(try c.liveViewConfiguration())
        #expect(view.address.description == "127.0.0.1:8023")
        #expect(view.bearerToken == "w3b")
        #expect(view.liveQueueTokens == 100 && view.connections.maxConnections == 9)
        let command = try EarshotdCommand.parse(["--http-address", ":8024", "--http-max-connections", "3"]).resolved()
        #expect(command.httpAddress?.description == "127.0.0.1:8024" && command.httpMaxConnections == 3)
        #expect(throws: DaemonError.self) { _ = try EarshotdCommand.parse(["--http-address", "nope"]).resolved() }
    }

    @Test func plaintextOffLoopbackNeedsTheExplicitFlag() throws {
        var c = try EarshotdCommand.parse(["--http-address", "0.0.0.0:8023"]).resolved()
        #expect { _ = try c.liveViewConfiguration() } throws: { error in
            "\(error)".contains("--http-address 0.0.0.0:8023 is not loopback")
        }
        c = try EarshotdCommand.parse(["--http-address", "0.0.0.0:8023", "--http-allow-plaintext"]).resolved()
        #expect(try c.liveViewConfiguration()?.allowPlaintextNonLoopback == true)
        c = try EarshotdCommand.parse(["--http-address", "127.0.0.1:8023", "--http-tls-cert", "/nonexistent.pem"])
            .resolved()
        #expect { _ = try c.liveViewConfiguration() } throws: { error in
            "\(error)" == "TLS needs both --http-tls-cert and --http-tls-key"
        }
    }
}
