import ConnectionAdmission
import Foundation
import LoopbackTestSupport
import NIOCore
import NIOPosix
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The cap on a real listener over loopback TCP: connections past it are closed as they are accepted, established
/// ones keep being served, and a slot freed is taken again.
@Suite struct ListenerCapTests {
    /// Echoes each read back; every read is one request.
    final class Echo: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            ListenerAdmission.requestStarted(on: context.channel)
            context.writeAndFlush(data).whenComplete { _ in ListenerAdmission.requestFinished(on: context.channel) }
        }
    }

    func withListener(_ limits: AdmissionLimits, _ body: (ListenerAdmission, Int) async throws -> Void) async throws {
        let admission = ListenerAdmission(name: "test", limits: limits)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelInitializer { admission.install(on: $0) }
            .childChannelInitializer { $0.pipeline.addHandler(Echo()) }
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            try await body(admission, channel.localAddress!.port!)
        } catch {
            try? await channel.close()
            throw error
        }
        try await channel.close()
    }

    /// A connected socket to `port`.
    func connect(_ port: Int) throws -> Int32 { try LoopbackTCP.connected(port) }

    /// Sends `text` and reads the echo (nil: closed by the server, or nothing within 10 s).
    func echo(_ fd: Int32, _ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return nil }
        return read(fd)
    }

    /// One read (nil on end of stream, error or 10 s of silence).
    func read(_ fd: Int32) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 10_000) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }

    @Test func connectionsPastTheCapAreClosedAtAcceptAndTheOthersKeepWorking() async throws {
        let limits = AdmissionLimits(maxConnections: 2, firstRequestTimeout: .seconds(60), idleTimeout: .seconds(60))
        try await withListener(limits) { admission, port in
            let first = try connect(port), second = try connect(port)
            defer { close(second) }   // `first` is closed below, once: a second close could hit a reused descriptor
            #expect(echo(first, "a") == "a")
            #expect(echo(second, "b") == "b")
            #expect(admission.openConnections == 2)

            for _ in 0..<5 {
                let extra = try connect(port)
                #expect(read(extra) == nil, "a connection over the cap is closed without a byte")
                close(extra)
            }
            #expect(admission.refusedConnections == 5)
            #expect(echo(first, "still") == "still")
            #expect(echo(second, "here") == "here")

            // A slot freed is free again (the count drops when the server sees the close).
            close(first)
            while admission.openConnections > 1 { try await Task.sleep(for: .milliseconds(5)) }
            let third = try connect(port)
            defer { close(third) }
            #expect(echo(third, "c") == "c")
            #expect(admission.refusedConnections == 5)
        }
    }
}
