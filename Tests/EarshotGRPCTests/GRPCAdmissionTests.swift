import EarshotGRPC
import EarshotTypes
import Foundation
import GRPCCore
import Logging
import LoopbackTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The gRPC listeners' connection cap and deadlines (ListenerAdmission through the transport's channel callbacks),
/// against a real server, real grpc-swift clients and raw TCP clients that never speak. Waits are on the server's
/// own counts, never on a clock.
@Suite struct GRPCAdmissionTests {
    /// A raw TCP connection to 127.0.0.1:`port` that will never send a byte.
    func silentConnection(_ port: Int) throws -> Int32 { try LoopbackTCP.connected(port) }

    /// Whether the server closed `fd` within `timeout` seconds.
    func closedByServer(_ fd: Int32, within timeout: Double) -> Bool { LoopbackTCP.closedByServer(fd, within: timeout) }

    /// Waits (≤ 20 s) until `condition` holds.
    func eventually(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw RPCTestFailure("\(what): not within 20 s") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func aTLSListenerClosesATCPConnectionThatNeverStartsTheHandshake() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        var configuration = loopback()
        configuration.tlsCertificatePath = pki.serverCertificate
        configuration.tlsKeyPath = pki.serverKey
        configuration.connections.firstRequestTimeout = .milliseconds(300)
        try await withService(configuration) { service, port in
            let fd = try silentConnection(port)
            defer { close(fd) }
            #expect(closedByServer(fd, within: 20))
            try await eventually("the slot freed") { service.admission.openConnections == 0 }
            #expect(service.admission.expiredConnections == 1)
        }
    }

    @Test func aCallHoldsItsConnectionAndTheIdleDeadlineClosesItAfterward() async throws {
        var configuration = loopback()
        configuration.connections.idleTimeout = .seconds(2)
        try await withService(configuration) { service, port in
            let watched = Atomic<Int>(0)
            // A loaded machine may fail the client's first connection attempt: its calls wait for the next.
            var options = GRPCClientOptions(host: "127.0.0.1", port: port)
            options.waitForReady = true
            do {
                try await withEarshotClient(options) { _, health in
                    // A Watch call open far longer than the idle deadline: its connection stays.
                    try await health.watch(.with { $0.service = "" }) { response in
                        for try await _ in response.messages {
                            try await Task.sleep(for: .seconds(3))
                            #expect(service.admission.openConnections == 1, "a connection with a call open stays")
                            #expect(service.admission.expiredConnections == 0, "a connection with a call open is not idle")
                            watched.add(1, ordering: .relaxed)
                            break
                        }
                    }
                    // With no call open, the admission closes it while the client still holds it.
                    try await eventually("the idle connection closed") { service.admission.expiredConnections == 1 }
                }
            } catch {
                print("the client ended with \(error)")    // after the server closed its connection, or a failure
            }
            #expect(watched.load(ordering: .relaxed) == 1, "the Watch call ran past the idle deadline")
            #expect(service.admission.expiredConnections == 1, "the idle connection closed")
            try await eventually("the slot freed") { service.admission.openConnections == 0 }
        }
    }

    @Test func connectionsPastTheCapAreClosedAndTheEstablishedOnesKeepServing() async throws {
        var configuration = loopback()
        configuration.connections.maxConnections = 2
        configuration.healthAddress = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.healthConnections.maxConnections = 1
        try await withService(configuration) { service, port in
            try await withEarshotClient(GRPCClientOptions(host: "127.0.0.1", port: port)) { _, health in
                #expect(try await health.check(.with { $0.service = "" }).status == .serving)
                let held = try silentConnection(port)
                defer { close(held) }
                try await eventually("two connections open") { service.admission.openConnections == 2 }
                var extras: [Int32] = []
                defer { extras.forEach { close($0) } }
                for _ in 0..<20 { extras.append(try silentConnection(port)) }
                for fd in extras { #expect(closedByServer(fd, within: 20)) }
                #expect(service.admission.refusedConnections == 20)
                #expect(!closedByServer(held, within: 0), "the established silent connection is still open")
                // The established client's connection still serves calls.
                #expect(try await health.check(.with { $0.service = "" }).status == .serving)
            }
            // The health listener has its own cap.
            let healthPort = try #require(try await service.healthPort)
            let first = try silentConnection(healthPort), second = try silentConnection(healthPort)
            defer { close(first); close(second) }
            #expect(closedByServer(second, within: 20))
            #expect(service.healthAdmission?.refusedConnections == 1)
        }
    }
}

struct RPCTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
