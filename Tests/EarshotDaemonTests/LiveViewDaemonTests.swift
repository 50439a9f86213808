import EarshotClient
import Foundation
import LoopbackTestSupport
import Testing

/// earshotd with `--http-address`: the live view's WebSocket feeds are clients of the engine's one registry, beside
/// the socket's clients (one `max-clients` for every transport), and show in status as `websocket`.
@Suite(.serialized) struct LiveViewDaemonTests {
    @Test func webSocketFeedsAndSocketClientsShareOneClientLimit() async throws {
        let port = try LoopbackTCP.freePort()
        // Looped: the stream must outlive the test however slowly the machine runs it.
        let daemon = try Daemon(source: "mic=file:\(Paths.wav("long24bit"))?loop",
                                extra: ["--http-address", "127.0.0.1:\(port)", "--max-clients", "2"])
        defer { _ = daemon.terminate() }
        try GRPCDaemonTests.waitForListener(port, daemon: daemon)
        let socket = daemon.socket
        try await withTimeout(60, "the shared limit") {
            try await GRPCDaemonTests.admitted(to: socket) { holder in
                // The harness's readiness probes may still be leaving: wait until the holder is alone.
                while try await holder.statusReport().clients != 1 { try await Task.sleep(for: .milliseconds(10)) }
                let refusedBefore = try await holder.statusReport().totals.refusals["too-many-clients"] ?? 0
                let feed = try TestWebSocket(port: port, target: "/v1/streams/mic/ws")
                #expect(try feed.message().text?.hasPrefix(#"{"started":"mic","firstToken":"#) == true)
                // The engine's tokens: a header, then D little-endian float32 values.
                let header = try #require(try feed.message().text)
                #expect(header.hasPrefix(#"{"token":"#))
                let values = try #require(try feed.message().binary)
                let status = try await holder.statusReport()
                #expect(values.count == 4 * status.model.D)
                #expect(status.clients == 2)
                #expect(Set(status.connections.map(\.transport)) == [.socket, .websocket])
                #expect(status.connections.contains {
                    $0.transport == .websocket && $0.name == "websocket Subscribe mic" && $0.subscriptions == 1
                })
                // A third client is turned away whatever its transport: a spectrogram feed (1013, try again later)...
                let mel = try TestWebSocket(port: port, target: "/v1/streams/mic/mel/ws")
                #expect(try mel.message().text
                            == #"{"error":"limitReached","message":"the server already serves 2 clients"}"#)
                #expect(try mel.message().closeCode == 1013)
                // ...and a socket client.
                await #expect(throws: (any Error).self) {
                    try await EarshotConnection.withConnection(to: socket) { try await $0.ping() }
                }
                let refused = try await holder.statusReport().totals.refusals["too-many-clients"] ?? 0
                #expect(refused == refusedBefore + 2)
            }
        }
    }
}

/// A blocking WebSocket client over plain TCP (RFC 6455): the upgrade, then the server's unmasked frames.
final class TestWebSocket {
    struct Message {
        var opcode: UInt8
        var payload: [UInt8]
        var text: String? { opcode == 1 ? String(decoding: payload, as: UTF8.self) : nil }
        var binary: [UInt8]? { opcode == 2 ? payload : nil }
        var closeCode: UInt16? {
            opcode == 8 && payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
        }
    }

    private let fd: Int32
    private var buffered: [UInt8] = []

    init(port: Int, target: String) throws {
        guard let fd = LoopbackTCP.connect(port) else { throw TestFailure("nothing listens on \(port)") }
        self.fd = fd
        let request = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        guard UnixSocket.send(fd, Array(request.utf8)) else { throw TestFailure("the upgrade was not sent") }
        var head: [UInt8] = []
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) { head += try read(1) }
        let status = String(decoding: head, as: UTF8.self)
        guard status.hasPrefix("HTTP/1.1 101") else { throw TestFailure("not upgraded: \(status)") }
    }

    deinit { close(fd) }

    /// The next message (the server never fragments).
    func message() throws -> Message {
        let first = try read(2)
        var length = Int(first[1] & 0x7F)
        if length == 126 { length = try read(2).reduce(0) { $0 << 8 | Int($1) } }
        if length == 127 { length = try read(8).reduce(0) { $0 << 8 | Int($1) } }
        return Message(opcode: first[0] & 0x0F, payload: try read(length))
    }

    private func read(_ count: Int) throws -> [UInt8] {
        while buffered.count < count {
            guard let chunk = UnixSocket.receive(fd, timeout: 10), !chunk.isEmpty else {
                throw TestFailure("the WebSocket closed or went quiet")
            }
            buffered += chunk
        }
        defer { buffered.removeFirst(count) }
        return Array(buffered[..<count])
    }
}
