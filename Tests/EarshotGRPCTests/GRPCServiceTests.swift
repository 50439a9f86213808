import EarshotGRPC
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Testing
import EarshotTypes

/// A real server on 127.0.0.1 (an ephemeral port), called over HTTP/2 with the generated client.
@Suite struct GRPCServiceTests {
    private func client(_ port: Int) -> GRPCClientOptions { GRPCClientOptions(host: "127.0.0.1", port: port) }

    private func code(of body: () async throws -> Void) async -> RPCError.Code? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return error.code
        } catch {
            Issue.record("not an RPCError: \(error)")
            return nil
        }
    }

    @Test func statusAndHealthOverPlaintextLoopback() async throws {
        try await withServer(loopback()) { port in
            try await withEarshotClient(client(port)) { earshot, health in
                let status = try await earshot.status(Earshot_V1_StatusRequest())
                let object = try JSONSerialization.jsonObject(with: Data(status.json.utf8)) as? [String: Any]
                #expect(object?["server"] as? String == "test")

                let overall = try await health.check(.with { $0.service = "" })
                #expect(overall.status == .serving)
                let earshotHealth = try await health.check(.with { $0.service = "earshot.v1.Earshot" })
                #expect(earshotHealth.status == .serving)
                let unknown = await code {
                    _ = try await health.check(.with { $0.service = "no.such.Service" })
                }
                #expect(unknown == .notFound)
                let first = try await health.watch(.with { $0.service = "earshot.v1.Earshot" }) {
                    response -> HealthService.Status? in
                    for try await message in response.messages { return message.status }
                    return nil
                }
                #expect(first == .serving)
            }
        }
    }

    @Test func subscribeGetsStartedFirstThenTokensAsTheSocketEncodesThem() async throws {
        let backend = TestBackend()
        try await withServer(loopback(), backend: backend) { port in
            try await withEarshotClient(client(port)) { earshot, _ in
                let request = Earshot_V1_SubscribeRequest.with {
                    $0.stream = "mic"
                    $0.payload = .f16
                    $0.output = .encoder
                }
                let responses = try await earshot.subscribe(request) { response in
                    var all: [Earshot_V1_SubscribeResponse] = []
                    for try await message in response.messages { all.append(message) }
                    return all
                }
                #expect(responses.count == 5)
                guard responses.count == 5 else { return }
                #expect(responses[0].started.stream == "mic")
                #expect(responses[0].started.width == 4)
                for i in 0..<3 {
                    let token = responses[1 + i].token
                    let v = Float(i)
                    let expected = [v, v + 0.5, -v, 1 / 3].withUnsafeBufferPointer { PayloadType.f16.encoded($0) }
                    #expect(token.index == UInt64(i))
                    #expect(token.firstSample == Int64(640 * i))
                    #expect(token.payload == .f16 && token.output == .encoder && token.width == 4)
                    #expect([UInt8](token.values) == expected)
                    #expect(token.flags == (i == 0 ? 1 : 0))
                }
                #expect(responses[4].event.kind == .ended)
                #expect(responses[4].event.count == 3)
            }
        }
        #expect(backend.cancelledSubscriptions.load(ordering: .relaxed) == 1)
    }

    /// The socket's policy: the queued tokens stay, the one refused is lost, and the loss is reported where it
    /// happened once the call has read enough to be resumed.
    @Test func aSlowSubscriberIsSkippedThenResumedBehindALaggedEvent() async throws {
        var configuration = loopback()
        configuration.limits.liveQueueTokens = 2                 // the backend delivers 3 before the call can write
        try await withServer(configuration) { port in
            try await withEarshotClient(client(port)) { earshot, _ in
                let seen = try await earshot.subscribe(.with { $0.stream = "mic" }) { response in
                    var seen: [String] = []
                    for try await message in response.messages {
                        switch message.response {
                        case .started: seen.append("started")
                        case .token(let t): seen.append("token \(t.index)")
                        case .event(let e): seen.append("\(e.kind) \(e.at) \(e.count)")
                        case nil: seen.append("empty")
                        }
                    }
                    return seen
                }
                #expect(seen == ["started", "token 0", "token 1", "lagged 2 1", "ended 0 3"])
            }
        }
    }

    @Test func subscribeErrorsAreStatusCodes() async throws {
        try await withServer(loopback(), backend: TestBackend(voiceActivity: false)) { port in
            try await withEarshotClient(client(port)) { earshot, _ in
                let unknown = await code {
                    try await earshot.subscribe(.with { $0.stream = "nope" }) { response in
                        for try await _ in response.messages {}
                    }
                }
                #expect(unknown == .notFound)
                let speech = await code {
                    try await earshot.subscribe(.with {
                        $0.stream = "mic"
                        $0.speechEvents = true
                    }) { response in for try await _ in response.messages {} }
                }
                #expect(speech == .failedPrecondition)
            }
        }
    }

    @Test(arguments: [nil, 1, 8])
    func pushReturnsEveryTokenInOrderAndReleasesEveryCredit(budget: Int?) async throws {
        let backend = TestBackend(pushBudget: budget)
        let samples = (0..<4001).map { Float($0) * 0.001 - 1.7 }      // 1000 whole tokens and a partial one
        try await withServer(loopback(), backend: backend) { port in
            try await withEarshotClient(client(port)) { earshot, _ in
                let responses = try await earshot.push(requestProducer: { writer in
                    try await writer.write(.with {
                        $0.start = .with {
                            $0.format = .f32Le
                            $0.sampleRate = 16000
                            $0.channels = 1
                            $0.label = "clip.wav"
                            $0.speechEvents = true
                        }
                    })
                    // Uneven pieces: the result must not depend on how the audio is split.
                    var offset = 0
                    var piece = 1
                    while offset < samples.count {
                        let end = min(samples.count, offset + piece)
                        try await writer.write(.with { $0.audio = Data(f32le(Array(samples[offset..<end]))) })
                        offset = end
                        piece = piece % 97 + 13
                    }
                }, onResponse: { response in
                    var all: [Earshot_V1_PushResponse] = []
                    for try await message in response.messages { all.append(message) }
                    return all
                })
                #expect(responses.first?.started.stream == "clip.wav")
                let tokens = responses.compactMap { r -> Earshot_V1_Token? in
                    if case .token(let t)? = r.response { return t }
                    return nil
                }
                #expect(tokens.count == 1001)
                #expect(tokens.map(\.index) == (0..<1001).map { UInt64($0) })
                let values = tokens.flatMap { PayloadType.f32.decode([UInt8]($0.values)[...], count: Int($0.width)) }
                #expect(values.prefix(4001).map(\.bitPattern) == samples.map(\.bitPattern))
                #expect(tokens.last?.flags == 4)                               // final
                #expect(responses.last?.event.kind == .ended)
                #expect(responses.last?.event.count == 1001)
                #expect(responses.dropLast().last?.event.kind == .speechStart)
            }
        }
        #expect(backend.outstandingCredits.load(ordering: .relaxed) == 0)
        if let budget {
            // A piece of audio (up to 109 samples) may add up to 28 tokens at once; `append` then waits until the writer brings the
            // unwritten count back within the budget: without credits released as written, this push would hang.
            #expect(backend.mostUnwritten.load(ordering: .relaxed) <= budget + 28)
        }
    }

    @Test func pushRefusesBadRequestsWithInvalidArgument() async throws {
        try await withServer(loopback()) { port in
            try await withEarshotClient(client(port)) { earshot, _ in
                func push(_ requests: [Earshot_V1_PushRequest]) async -> RPCError.Code? {
                    await code {
                        try await earshot.push(requestProducer: { writer in
                            try await writer.write(contentsOf: requests)
                        }, onResponse: { response in for try await _ in response.messages {} })
                    }
                }
                let start = Earshot_V1_PushRequest.with {
                    $0.start = .with {
                        $0.format = .f32Le
                        $0.sampleRate = 16000
                        $0.channels = 1
                    }
                }
                #expect(await push([]) == .invalidArgument)                                   // no start
                #expect(await push([.with { $0.audio = Data([0, 0, 0, 0]) }]) == .invalidArgument)
                #expect(await push([.with { $0.start = .with { $0.sampleRate = 16000; $0.channels = 1 } }])
                        == .invalidArgument)                                                  // no format
                #expect(await push([.with { $0.start = .with { $0.format = .s16Le; $0.sampleRate = 999; $0.channels = 1 } }])
                        == .invalidArgument)
                #expect(await push([start, .with { $0.audio = Data([1, 2, 3]) }]) == .invalidArgument)  // not whole frames
                #expect(await push([start, start]) == .invalidArgument)
                var labelled = start
                labelled.start.label = String(repeating: "x", count: ClientText.maxBytes + 1)
                #expect(await push([labelled]) == .invalidArgument)                           // label over 256 bytes
                labelled.start.label = String(repeating: "x", count: ClientText.maxBytes)
                #expect(await push([labelled, .with { $0.audio = Data(f32le([0.5])) }]) == nil)
                #expect(await push([start, .with { $0.audio = Data(f32le([0.5])) }]) == nil)
            }
        }
    }

    @Test func aPushThatNeverStartsTimesOut() async throws {
        var configuration = loopback()
        configuration.limits.startTimeout = .milliseconds(200)
        // Not the connection's idle timer as well: it runs from the connection's accept, and on a loaded machine it
        // can close the connection before the call's stream opens (UNAVAILABLE instead of the call's own status).
        configuration.connections.idleTimeout = .seconds(60)
        try await withServer(configuration) { port in
            try await withEarshotClient(client(port)) { earshot, _ in
                let (done, finished) = AsyncStream.makeStream(of: Void.self)
                let result = await code {
                    try await earshot.push(requestProducer: { _ in
                        for await _ in done {}          // sends nothing until the call is over
                    }, onResponse: { response in
                        defer { finished.finish() }
                        for try await _ in response.messages {}
                    })
                }
                #expect(result == .deadlineExceeded)
            }
        }
    }

    @Test func callsBeyondTheLimitAreResourceExhausted() async throws {
        let configuration = loopback()
        let backend = TestBackend(maxClients: 1)
        try await withServer(configuration, backend: backend) { port in
            try await withEarshotClient(client(port)) { earshot, _ in
                let (done, finished) = AsyncStream.makeStream(of: Void.self)
                let (startedSignal, started) = AsyncStream.makeStream(of: Void.self)
                async let holder: Void = earshot.push(requestProducer: { writer in
                    try await writer.write(.with {
                        $0.start = .with { $0.format = .f32Le; $0.sampleRate = 16000; $0.channels = 1 }
                    })
                    for await _ in done {}
                }, onResponse: { response in
                    for try await _ in response.messages { started.yield() }
                })
                for await _ in startedSignal { break }                 // the first call holds the only slot
                let second = await code {
                    try await earshot.subscribe(.with { $0.stream = "mic" }) { response in
                        for try await _ in response.messages {}
                    }
                }
                #expect(second == .resourceExhausted)
                // Refused by the session layer's one registry, which counts it with the socket's refusals.
                #expect(backend.refusedCalls.withLock { $0 } == [.tooManyClients])
                finished.finish()
                try await holder
            }
        }
    }
}
