import EarshotGRPC
import Foundation
import Testing

/// HTTP/2's stream limit, with grpcio (issue #19, item 5). NIO refuses a 101st concurrent stream on a connection
/// with a GOAWAY that ends every call on it; the server now announces the limit in its SETTINGS, so grpcio queues
/// the calls beyond it instead. (Before, 101 concurrent pushes on one channel all failed UNAVAILABLE.)
@Suite struct GRPCStreamLimitTests {
    /// 110 concurrent pushes (each holding its stream until `held` have started) and 300 concurrent Status calls on
    /// one channel; prints one JSON line of outcomes.
    static let script = #"""
        import json, os, sys, threading
        root, port, held = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        sys.path.insert(0, os.path.join(root, "clients", "python"))
        import grpc, numpy as np
        from earshot.grpc_stubs import earshot_pb2 as pb, earshot_pb2_grpc as pbg

        PUSHES = 110
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pbg.EarshotStub(channel)
        lock, started, everyone = threading.Lock(), [0], threading.Event()
        outcomes = [None] * PUSHES

        def requests():
            yield pb.PushRequest(start=pb.PushStart(format=pb.PCM_FORMAT_F32LE, sample_rate=16000, channels=1))
            everyone.wait(30)         # hold the stream until `held` pushes run at once
            yield pb.PushRequest(audio=np.arange(8, dtype="<f4").tobytes())

        def push(i):
            tokens = 0
            try:
                for response in stub.Push(requests()):
                    if response.HasField("started"):
                        with lock:
                            started[0] += 1
                            if started[0] >= held:
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

    /// Runs the script against a server admitting `maxCalls` Push/Subscribe calls; the outcomes and the refusals
    /// the backend was told of.
    private func run(maxCalls: Int, held: Int) async throws -> (pushes: [String], statuses: [String], refused: Int) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("earshot-streams-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.script.write(toFile: directory + "/streams.py", atomically: true, encoding: .utf8)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let configuration = loopback()
        let backend = TestBackend(maxClients: maxCalls)
        let printed = try await withServer(configuration, backend: backend) { port in
            try await GRPCClientTests.pythonOffThePool([directory + "/streams.py", root, "\(port)", "\(held)"])
        }
        guard let line = printed.split(separator: "\n").last,
              let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: [String]],
              let pushes = report["pushes"], let statuses = report["statuses"]
        else { throw TestFailure("no report: \(printed)") }
        return (pushes, statuses, backend.refusedCalls.withLock { $0.count })
    }

    @Test(.enabled(if: GRPCClientTests.pythonHasGRPC()))
    func callsBeyondTheStreamLimitQueueInsteadOfFailingTheConnection() async throws {
        // The call limit is not the point here: 100 streams are held at once, the 10 beyond them wait.
        let (pushes, statuses, refused) = try await run(maxCalls: 200, held: 100)
        // Two tokens of 4 samples each, then `ended` and OK, for every push.
        #expect(pushes == Array(repeating: "OK 2", count: 110), "\(pushes)")
        #expect(statuses == Array(repeating: "OK", count: 300), "\(Set(statuses))")
        #expect(refused == 0)
    }

    /// With the call limit below the stream limit, each call beyond it is refused alone: the others on the same
    /// connection go on.
    @Test(.enabled(if: GRPCClientTests.pythonHasGRPC()))
    func callsBeyondTheCallLimitAreRefusedAlone() async throws {
        let (pushes, statuses, refused) = try await run(maxCalls: 50, held: 50)
        let exhausted = "RESOURCE_EXHAUSTED the server already serves 50 clients"
        #expect(pushes.allSatisfy { $0 == "OK 2" || $0 == exhausted }, "\(Set(pushes))")
        #expect(pushes.filter { $0 == "OK 2" }.count >= 50)
        #expect(pushes.filter { $0 == exhausted }.count == refused)
        #expect(refused >= 50)
        #expect(statuses == Array(repeating: "OK", count: 300), "\(Set(statuses))")
    }
}
