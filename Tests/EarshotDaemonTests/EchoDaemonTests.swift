import AudioCore
import EarshotClient
import EarshotGRPC
import Foundation
import Testing

/// earshotd serving Echo (issue #24): the committed small Echo model (ctx 48, a window of 7 680 samples) behind the
/// same socket, gRPC and status as Gemma 4. A file source's subscribers and pushes over both transports get the bits
/// `earshot encode` writes — every window whole, the last one padded — and status names the family.
@Suite(.serialized) struct EchoDaemonTests {
    static let model = "\(Paths.fixtures)/echo/base"
    static let speech = "\(Paths.fixtures)/echo/speech/input.wav"

    @Test(.timeLimit(.minutes(2))) func pushesAndAFileSourceGetTheBitsOfEncode() async throws {
        let port = try MetricsTests.freePort()
        // A send queue of 10 frames, less than a window: the daemon raises it to two windows (96), so the whole
        // stream (2 windows) replays to a subscriber from the oldest without a `lagged`.
        let daemon = try Daemon(source: "file:\(Self.speech)", model: Self.model,
                                config: "send-queue-frames = 10\n", extra: ["--grpc-address", "127.0.0.1:\(port)"])
        defer { _ = daemon.terminate() }
        try GRPCDaemonTests.waitForListener(port, daemon: daemon)
        let s = daemon.scratch
        // 44.1 kHz stereo: resampled and downmixed in the daemon as `earshot encode` does it offline.
        let stereo = Paths.wav("stereo44k")
        for (input, name) in [(stereo, "stereo"), (Self.speech, "speech")] {
            try GRPCDaemonTests.earshot(["encode", "--model", Self.model, "--input", input,
                                         "--output", s.file("\(name).encode.npy")], in: s, "encode-\(name)")
        }
        try GRPCDaemonTests.earshot(["push", "--grpc", "127.0.0.1:\(port)", "--input", stereo,
                                     "--output", s.file("grpc.npy")], in: s, "push-grpc")
        try GRPCDaemonTests.earshot(["push", "--socket", daemon.socket, "--input", stereo,
                                     "--output", s.file("socket.npy")], in: s, "push-socket")
        let offline = try NPY.read(path: s.file("stereo.encode.npy"))
        #expect(offline.shape[1] == 32 && offline.shape[0] % 48 == 0, "whole windows of ctx 48 rows")
        #expect(try GRPCDaemonTests.bytes(s.file("grpc.npy")) == GRPCDaemonTests.bytes(s.file("stereo.encode.npy")))
        #expect(try GRPCDaemonTests.bytes(s.file("socket.npy")) == GRPCDaemonTests.bytes(s.file("stereo.encode.npy")))

        // The file source's stream, from its history: the same windows as the file encoded offline.
        let socket = daemon.socket
        let (frames, server) = try await withTimeout(60, "the Echo file source") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                let subscription = try await connection.subscribe(to: "mic", from: .oldest)
                return (try await DaemonIntegrationTests.collect(connection, subscription), connection.server)
            }
        }
        #expect(server.samplesPerToken == 160 && server.width(of: .embeddings) == 32)
        #expect(frames.flatMap(\.values) == (try NPY.read(path: s.file("speech.encode.npy"))).values)
        #expect(frames.enumerated().allSatisfy { $0.element.token == UInt64($0.offset)
                                                 && $0.element.firstSample == Int64(160 * $0.offset) })

        let status = try await withTimeout(30, "status") {
            try await EarshotConnection.withConnection(to: socket) { try await $0.status() }
        }
        #expect(status.contains("\"family\":\"echo\"") && status.contains("\"samplesPerToken\":160"))
        #expect(daemon.log.contains("send queues hold two blocks"))
        #expect(daemon.log.contains("block-tokens does not apply to this model"))
    }

    /// `earshot bench --json` on Echo: one window per input kind, as JSON on stdout (the text lines go to stderr).
    @Test func benchReportsEveryInputAsJSON() throws {
        let scratch = ScratchDirectory()
        // stdout (the JSON) to its own file; the log gets stderr.
        let run = try ChildProcess("/bin/sh", ["-c", "exec \"$0\" \"$@\" >\(scratch.file("bench.json"))",
                                               Paths.executable("earshot"), "bench", "--model", Self.model, "--json",
                                               "--runs", "1", "--threads", "1"],
                                   logPath: scratch.file("bench.log"))
        #expect(run.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(run.log)")
        let data = try Data(contentsOf: URL(fileURLWithPath: scratch.file("bench.json")))
        let report = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(report?["family"] as? String == "echo" && report?["windowSeconds"] as? Double == 0.48)
        let windows = report?["windows"] as? [[String: Any]] ?? []
        #expect(windows.compactMap { $0["inputs"] as? String } == ["mel", "waveform", "fused"])
        #expect(windows.allSatisfy { ($0["bestSeconds"] as? Double ?? 0) > 0 })
    }

    /// Echo runs in f32: another precision is refused at startup, by name.
    @Test func aPrecisionOtherThanF32IsRefused() throws {
        let scratch = ScratchDirectory()
        let run = try ChildProcess(Paths.executable("earshotd"),
                                   ["--model", Self.model, "--source", "none", "--socket", scratch.file("d.sock"),
                                    "--precision", "bf16"], logPath: scratch.file("earshotd.log"))
        let raw = run.wait(timeout: 30)
        #expect(raw.map(ChildProcess.exitCode) != 0)
        #expect(run.log.contains("Echo models run in f32 only"))
    }
}
