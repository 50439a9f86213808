import EarshotCLI
import EarshotClient
import Foundation
import Testing
import WireProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Issue #11: what a long-running earshotd must survive. Memory per pushed stream, slots held by clients that say
/// nothing, and signals other than SIGTERM; the real executable, real sockets.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HardeningTests {
    /// VmRSS of `pid` in KiB (from /proc/PID/status).
    static func residentKiB(_ pid: pid_t) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else {
            throw TestFailure("no VmRSS for pid \(pid)")
        }
        return kib
    }

    // MARK: Memory

    /// Each push allocates a stream (encoder caches, log-mel buffers, its frames); once it has ended and its frames
    /// are read, all of it must go. Before the fix every pushed stream stayed alive (≈ 5 MB per push of this 3 s
    /// clip on the fixture model), so 100 pushes grew the daemon by ≈ 500 MB; now the growth is allocator noise.
    @Test func pushedStreamsLeaveNoMemoryBehind() async throws {
        let daemon = try Daemon()
        let socket = daemon.socket
        let input = Paths.wav("speech")
        @Sendable func push(_ count: Int) async throws {
            for _ in 0..<count { _ = try await PushCommand.encode(socket: socket, input: input) }
        }
        try await withTimeout(60, "warm-up pushes") { try await push(30) }
        let before = try Self.residentKiB(daemon.process.pid)
        let pushes = 100
        try await withTimeout(120, "measured pushes") { try await push(pushes) }
        let after = try Self.residentKiB(daemon.process.pid)
        let perPush = Double(after - before) / Double(pushes)
        #expect(perPush < 150, "RSS grew \(after - before) KiB over \(pushes) pushes (\(perPush) KiB per push)")
        let status = try await EarshotConnection.withConnection(to: socket) { try await $0.status() }
        #expect(!status.contains("\"pushed\""), "a pushed stream is still scheduled: \(status)")
        #expect(daemon.terminate()?.code == 0)
    }
}
