import AudioCore
import EarshotGRPC
import Foundation
import GRPCCore
import Synchronization
import Testing

/// The two clients of issue #14 against a live server with the scripted backend: the Push call's client (what
/// `earshot push --grpc` runs) and examples/python/grpc_push.py must bring back the same tokens. (The commands
/// against the real engine: EarshotDaemonTests' GRPCDaemonTests.)
@Suite struct GRPCClientTests {
    /// 1001 samples of a 16-bit mono WAV: 250 whole tokens of the test backend and a zero-padded last one.
    private static let samples: [Float] = (0..<1001).map { i in Float((i * 37) % 2001 - 1000) / 32768 }

    /// The test backend's tokens for `samples`: rows of 4, the last padded with zeros.
    private static var expected: FloatArray {
        FloatArray(shape: [251, 4], values: samples + [Float](repeating: 0, count: 3))
    }

    private func wav(_ directory: String) throws -> String {
        let path = directory + "/clip.wav"
        try WAV.write(path: path, samples: Self.samples, sampleRate: 16000, channels: 1, format: .s16le)
        return path
    }

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("earshot-grpc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `samples` as `GRPCPush` sends a file: interleaved pieces (of 300 frames here), then an empty one.
    private static func pieces() -> @Sendable () -> [Float] {
        let next = Mutex(0)
        return {
            next.withLock { start in
                defer { start = min(samples.count, start + 300) }
                return Array(samples[start..<min(samples.count, start + 300)])
            }
        }
    }

    private static let start = GRPCPush.Start(sampleRate: 16000, channels: 1, output: .encoder, label: "clip",
                                              speechEvents: true)

    @Test func aPushOverGRPCReturnsEveryTokenAndTheSpeechEvents() async throws {
        let sentFrames = Mutex(0), receivedTokens = Mutex<[Int]>([])
        let result = try await withServer(loopback()) { port in
            try await GRPCPush.run(GRPCClientOptions(host: "127.0.0.1", port: port), Self.start,
                                   nextPiece: Self.pieces(), sent: { frames in sentFrames.withLock { $0 += frames } },
                                   received: { token in receivedTokens.withLock { $0.append(token) } })
        }
        #expect(result.tokens == Self.expected)
        #expect(result.speechEvents.map(\.kind) == [.speechStart])
        #expect(result.speechEvents.map(\.at) == [0])
        #expect(sentFrames.withLock { $0 } == Self.samples.count)
        #expect(receivedTokens.withLock { $0 } == Array(0..<251))
    }

    @Test func aPushWithTheServersBearerTokenIsServedAndOneWithoutIsRefused() async throws {
        var configuration = loopback()
        configuration.bearerToken = "pass-word"
        try await withServer(configuration) { port in
            var options = GRPCClientOptions(host: "127.0.0.1", port: port)
            options.bearerToken = "pass-word"
            let result = try await GRPCPush.run(options, Self.start, nextPiece: Self.pieces())
            #expect(result.tokens == Self.expected)
            await #expect(throws: RPCError.self) {
                _ = try await GRPCPush.run(GRPCClientOptions(host: "127.0.0.1", port: port), Self.start,
                                           nextPiece: Self.pieces())
            }
        }
    }

    /// Runs only where `python3` can import grpc and numpy (CI installs them: scripts/install-deps.sh).
    @Test(.enabled(if: GRPCClientTests.pythonHasGRPC()))
    func pythonExamplePushesAWavAndWritesTheNpy() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = try wav(directory)
        let output = directory + "/out.npy"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/python/grpc_push.py").path
        let events = directory + "/events.jsonl"
        let printed = try await withServer(loopback()) { port in
            try await Self.pythonOffThePool([script, "--grpc", "127.0.0.1:\(port)", "--input", input, "--output", output,
                             "--stage", "encoder", "--events", events])
        }
        #expect(try NPY.read(path: output) == Self.expected)
        // Every event as `earshot listen` spells it; the speech events' file as `earshot push --events` writes it.
        #expect(printed.contains(#"{"event": "speechStart", "at": 0, "count": 0, "message": ""}"#))
        #expect(printed.contains(#""event": "ended""#))
        #expect(try String(contentsOfFile: events, encoding: .utf8) == "{\"start\": 0}\n")
    }

    /// `python(_:)` on a Dispatch thread: the server's handlers need the cooperative pool while the child runs.
    static func pythonOffThePool(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try python(arguments) }) }
        }
    }

    static func pythonHasGRPC() -> Bool {
        (try? python(["-c", "import grpc, numpy, google.protobuf"])) != nil
    }

    /// Runs python3 with `arguments`; its standard output, or an error with its standard error.
    private static func python(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read both pipes to the end before waiting, so a chatty child cannot fill one and stall.
        let group = DispatchGroup()
        nonisolated(unsafe) var errorData = Data()
        group.enter()
        DispatchQueue.global().async {
            errorData = errors.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("python3 \(arguments.joined(separator: " ")): \(String(decoding: errorData, as: UTF8.self))")
        }
        return String(decoding: outputData, as: UTF8.self)
    }
}
