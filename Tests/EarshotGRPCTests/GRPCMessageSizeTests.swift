@testable import EarshotGRPC
import Foundation
import Testing

/// A request message over `maxRequestBytes` ends its call with RESOURCE_EXHAUSTED naming the limit (issue #19,
/// item 9: grpc-swift's transport answered RST_STREAM CANCEL), and only that call.
@Suite struct GRPCMessageSizeTests {
    /// Three calls on one grpcio channel: a push whose second message is one frame over the limit, a push whose
    /// first message (its start) is over it, then a push within it; prints one JSON line of outcomes.
    static let script = #"""
        import json, os, sys
        root, port, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        sys.path.insert(0, os.path.join(root, "clients", "python"))
        import grpc
        from earshot.grpc_stubs import earshot_pb2 as pb, earshot_pb2_grpc as pbg

        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pbg.EarshotStub(channel)
        start = pb.PushStart(format=pb.PCM_FORMAT_F32LE, sample_rate=16000, channels=1)

        def outcome(requests):
            tokens = 0
            try:
                for response in stub.Push(iter(requests)):
                    tokens += response.HasField("token")
                return f"OK {tokens}"
            except grpc.RpcError as e:
                return f"{e.code().name} {e.details()}"

        print(json.dumps([
            outcome([pb.PushRequest(start=start), pb.PushRequest(audio=bytes(limit + 4))]),
            outcome([pb.PushRequest(start=pb.PushStart(label="x" * (limit + 1)))]),
            outcome([pb.PushRequest(start=start), pb.PushRequest(audio=bytes(16))]),
        ]))
        """#

    @Test(.enabled(if: GRPCClientTests.pythonHasGRPC()))
    func anOversizedMessageIsResourceExhaustedNamingTheLimit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("earshot-size-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.script.write(toFile: directory + "/size.py", atomically: true, encoding: .utf8)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let configuration = loopback()
        let limit = configuration.maxRequestBytes
        let printed = try await withServer(configuration) { port in
            try await GRPCClientTests.pythonOffThePool([directory + "/size.py", root, "\(port)", "\(limit)"])
        }
        guard let line = printed.split(separator: "\n").last,
              let outcomes = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String]
        else { throw TestFailure("no report: \(printed)") }
        // The audio message: limit + 4 bytes of audio in 4 bytes of protobuf framing (a tag, a 3-byte length).
        #expect(outcomes.count == 3)
        #expect(outcomes.first == "RESOURCE_EXHAUSTED a request message of \(limit + 8) bytes is over the limit of "
                                  + "\(limit) bytes", "\(outcomes)")
        // Before any response (a trailers-only answer): a label of limit + 1 bytes, framed twice (label, start).
        #expect(outcomes.dropFirst().first == "RESOURCE_EXHAUSTED a request message of \(limit + 9) bytes is over "
                                              + "the limit of \(limit) bytes", "\(outcomes)")
        // The connection lives on: the next call is served (4 samples, one token).
        #expect(outcomes.last == "OK 1", "\(outcomes)")
    }

    /// The prefix reader finds the same lengths however the bytes are split.
    @Test func messageLengthsAreReadAcrossAnySplit() {
        // Messages of 3, 0 and 300 bytes (within a limit of 300), then one of 301.
        var stream: [UInt8] = []
        for length in [3, 0, 300, 301] {
            stream += [0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF),
                       UInt8(length & 0xFF)]
            stream += [UInt8](repeating: 7, count: length)
        }
        let oversizedAt = 5 + 3 + 5 + 0 + 5 + 300 + 5          // where its prefix ends
        for split in [1, 2, 5, 7, 64, stream.count] {
            var reader = GRPCMessageLengths()
            var found: (Int, Int)?
            var offset = 0
            while offset < stream.count, found == nil {
                let piece = stream[offset..<min(offset + split, stream.count)]
                if let length = reader.scan(piece, limit: 300) { found = (length, offset + piece.count) }
                offset += piece.count
            }
            #expect(found?.0 == 301, "split \(split)")
            // Found in the piece that completes the prefix.
            #expect(found.map { $0.1 >= oversizedAt && $0.1 - split < oversizedAt } == true, "split \(split)")
        }
        var within = GRPCMessageLengths()
        #expect(within.scan(stream[..<(oversizedAt - 5)], limit: 300) == nil)
    }
}
