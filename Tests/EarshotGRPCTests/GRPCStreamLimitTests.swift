import EarshotGRPC
import Foundation
import Testing

/// HTTP/2's stream limit, with grpcio (issue #19, item 5). NIO refuses a 101st concurrent stream on a connection
/// with a GOAWAY that ends every call on it; the server now announces the limit in its SETTINGS, so grpcio queues
/// the calls beyond it instead. (Before, 101 concurrent pushes on one channel all failed UNAVAILABLE.)
@Suite struct GRPCStreamLimitTests {
    /// 110 concurrent pushes and 300 concurrent Status calls on one channel; prints one JSON line of outcomes.
    static let script = #"""
        import json, os, sys, threading
        root, port = sys.argv[1], int(sys.argv[2])
        sys.path.insert(0, os.path.join(root, "examples", "python"))
        import grpc, numpy as np
        from earshot_grpc import earshot_pb2 as pb, earshot_pb2_grpc as pbg

        PUSHES, HELD = 110, 100
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pbg.EarshotStub(channel)
        lock, started, everyone = threading.Lock(), [0], threading.Event()
        outcomes = [None] * PUSHES

        def requests():
            yield pb.PushRequest(start=pb.PushStart(format=pb.PCM_FORMAT_F32LE, sample_rate=16000, channels=1))
            everyone.wait(30)         # hold the stream until 100 pushes run at once
            yield pb.PushRequest(audio=np.arange(8, dtype="<f4").tobytes())

        def push(i):
            tokens = 0
            try:
                for response in stub.Push(requests()):
                    if response.HasField("started"):
                        with lock:
                            started[0] += 1
                            if started[0] >= HELD:
                                everyone.set()
                    tokens += response.HasField("token")
                outcomes[i] = f"OK {tokens}"
            except grpc.RpcError as e:
                outcomes[i] = f"{e.code().name} {e.details()}"

        threads = [threading.Thread(target=push, args=(i,)) for i in range(PUSHES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        futures = [stub.Status.future(pb.StatusRequest()) for _ in range(300)]
        statuses = []
        for f in futures:
            try:
                statuses.append("OK" if f.result(timeout=60).json else "empty")
            except grpc.RpcError as e:
                statuses.append(f"{e.code().name} {e.details()}")
        print(json.dumps({"pushes": outcomes, "statuses": statuses}))
        """#

    @Test(.enabled(if: GRPCClientTests.pythonHasGRPC()))
    func callsBeyondTheStreamLimitQueueInsteadOfFailingTheConnection() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("earshot-streams-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.script.write(toFile: directory + "/streams.py", atomically: true, encoding: .utf8)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        var configuration = loopback()
        configuration.limits.maxCalls = 200       // the stream limit, not the call limit, is the point here
        let printed = try await withServer(configuration) { port in
            try await GRPCClientTests.pythonOffThePool([directory + "/streams.py", root, "\(port)"])
        }
        guard let line = printed.split(separator: "\n").last,
              let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: [String]]
        else { throw TestFailure("no report: \(printed)") }
        // Two tokens of 4 samples each, then `ended` and OK, for every push: the 10 beyond the limit waited.
        #expect(report["pushes"] == Array(repeating: "OK 2", count: 110), "\(report["pushes"] ?? [])")
        #expect(report["statuses"] == Array(repeating: "OK", count: 300), "\(Set(report["statuses"] ?? []))")
    }
}
