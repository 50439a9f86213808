import ClientSessions
import EarshotTypes
import Foundation
import LiveView
import Testing
import WireProtocol

@Suite struct LiveViewServerTests {
    @Test func thePageAndItsFilesAreServedAndNothingElse() async throws {
        try await withLiveView { port in
            let page = try await TestConnection.get(port, "/")
            #expect(page.status == 200)
            #expect(page.head.contains("Content-Type: text/html; charset=utf-8"))
            #expect(page.body.contains("<script src=\"live.js\""))
            #expect(page.head.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"))
            let script = try await TestConnection.get(port, "/live.js")
            #expect(script.status == 200 && script.head.contains("text/javascript"))
            #expect(try await TestConnection.get(port, "/live.css").status == 200)
            #expect(try await TestConnection.get(port, "/", method: "HEAD").status == 200)
            // No listing, no way out of the table, no other file.
            for path in ["/nope", "/Assets/", "/Assets/live.js", "/../Package.swift", "/%2e%2e/Package.swift",
                         "/live.js/..", "//live.js", "/v1/", "/v1/streams", "/v1/streams/mic", "/v1/streams//ws",
                         "/v1/streams/mic/x/ws", "/index.html/../../etc/passwd"] {
                let answer = try await TestConnection.get(port, path)
                #expect(answer.status == 404, "\(path): \(answer.status)")
            }
            #expect(try await TestConnection.get(port, "/", method: "POST").status == 405)
            let status = try await TestConnection.get(port, "/v1/status")
            #expect(status.status == 200 && status.head.contains("application/json"))
            #expect(status.body == #"{"server":"test","streams":[{"name":"mic","kind":"live"}]}"#)
            // A feed's path without the upgrade.
            #expect(try await TestConnection.get(port, "/v1/streams/mic/ws").status == 426)
        }
    }

    @Test func aBearerTokenGuardsTheDataButNotThePage() async throws {
        try await withLiveView({ $0.bearerToken = "s3cret" }) { port in
            #expect(try await TestConnection.get(port, "/").status == 200)
            #expect(try await TestConnection.get(port, "/live.js").status == 200)
            let refused = try await TestConnection.get(port, "/v1/status")
            #expect(refused.status == 401 && refused.head.contains("WWW-Authenticate: Bearer"))
            #expect(try await TestConnection.get(port, "/v1/status", headers: ["Authorization: Bearer wrong"]).status == 401)
            #expect(try await TestConnection.get(port, "/v1/status?token=wrong").status == 401)
            #expect(try await TestConnection.get(port, "/v1/status", headers: ["Authorization: Bearer s3cret"]).status == 200)
            #expect(try await TestConnection.get(port, "/v1/status?token=s3cret").status == 200)
            #expect(try await TestConnection.webSocket(port, "/v1/streams/mic/ws").status == 401)
            #expect(try await TestConnection.webSocket(port, "/v1/streams/mic/ws?token=s3cret").status == 101)
        }
    }

    @Test func aNonLoopbackAddressNeedsTLSOrAnExplicitAllowance() throws {
        var configuration = LiveViewConfiguration(address: ListenAddress(host: "0.0.0.0", port: 0))
        #expect(throws: LiveViewConfigurationError.self) { try configuration.validated() }
        configuration.allowPlaintextNonLoopback = true
        _ = try configuration.validated()
        configuration.tlsCertificatePath = "/nonexistent/cert.pem"
        #expect { try configuration.validated() } throws: { error in
            "\(error)".contains("TLS needs both --http-tls-cert and --http-tls-key")
        }
        configuration.tlsKeyPath = "/nonexistent/key.pem"
        #expect { try configuration.validated() } throws: { error in
            "\(error)".contains("--http-tls-cert /nonexistent/cert.pem: cannot load a PEM certificate")
        }
        #expect(try LiveViewConfiguration(address: ListenAddress(host: "::1", port: 0)).validated().address.host == "::1")
    }

    @Test func aLoopbackListenerWithoutATokenAnswersOnlyItsOwnNames() async throws {
        try await withLiveView { port in
            for host in ["evil.example:\(port)", "evil.example", "10.0.0.1:\(port)", "127.0.0.1.evil.example"] {
                let header = "Host: \(host)"
                let status = try await TestConnection.get(port, "/v1/status", headers: [header]).status
                #expect(status == 403, "\(host)")
                let upgrade = try await TestConnection.webSocket(port, "/v1/streams/mic/ws", headers: [header]).status
                #expect(upgrade == 403, "\(host)")
            }
            for host in ["localhost:\(port)", "127.0.0.1", "127.1.2.3:80", "[::1]:\(port)", "LOCALHOST"] {
                let header = "Host: \(host)"
                let status = try await TestConnection.get(port, "/v1/status", headers: [header]).status
                #expect(status == 200, "\(host)")
            }
        }
        // With a token the token decides (a proxy in front may pass its own name).
        try await withLiveView({ $0.bearerToken = "t" }) { port in
            let status = try await TestConnection.get(port, "/v1/status?token=t", headers: ["Host: earshot.example"]).status
            #expect(status == 200)
        }
    }

    @Test func aCrossOriginWebSocketIsRefused() async throws {
        try await withLiveView { port in
            let foreign = try await TestConnection.webSocket(port, "/v1/streams/mic/ws", headers: ["Origin: http://evil.example"])
            #expect(foreign.status == 403)
            let own = try await TestConnection.webSocket(port, "/v1/streams/mic/ws", headers: ["Origin: http://127.0.0.1:\(port)"])
            #expect(own.status == 101)
        }
    }

    @Test func tokensAndEventsAreTheDocumentedFrames() async throws {
        let sessions = ScriptedSessions()
        try await withLiveView(sessions: sessions) { port in
            let (socket, status) = try await TestConnection.webSocket(port, "/v1/streams/mic/ws?start=oldest&speech=all")
            let connection = try #require(socket, "status \(status)")
            #expect(await connection.message() == .text(
                #"{"started":"mic","firstToken":0,"width":3,"output":"embeddings","sampleRate":16000,"samplesPerToken":640}"#))
            let receiver = try await sessions.subscribers(1)[0]
            // What a browser sends on a token feed is dropped as it comes.
            for _ in 0..<64 { connection.sendFrame([UInt8](repeating: 7, count: 60_000)) }
            let captured = StreamFeedClock.now() - 100_000_000    // 100 ms ago
            #expect(receiver.live(ScriptedSessions.token(1, firstSample: 640, capture: captured, flags: [.speech, .final],
                                                         values: [1, -2, 0.5])))
            receiver.event(EventInfo(.speechEnd, at: 1280))
            receiver.event(EventInfo(.ended, at: 0, count: 2, message: "stream 'mic' has \"ended\""))
            guard case .text(let header)? = await connection.message() else { throw LiveViewTestFailure("no header") }
            let fields = try #require(try JSONSerialization.jsonObject(with: Data(header.utf8)) as? [String: Any])
            #expect(fields["token"] as? Int == 1)
            #expect(fields["firstSample"] as? Int == 640)
            #expect(header.contains(#""time":0.040,"#))
            #expect(header.contains(#""norm":2.2913,"#))         // √5.25, 5 significant digits
            #expect(header.hasSuffix(#""flags":["final","speech"]}"#))
            let latency = try #require(fields["latencyMs"] as? Double)
            #expect(latency >= 60 && latency < 10_000, "100 ms after capture, less the token's 40 ms: \(latency)")
            // 1.0, −2.0, 0.5 as little-endian binary32.
            #expect(await connection.message() == .binary([0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0, 0, 0, 0, 0x3F]))
            #expect(await connection.message() == .text(#"{"event":"speechEnd","at":1280,"count":0,"message":""}"#))
            #expect(await connection.message() == .text(
                #"{"event":"ended","at":0,"count":2,"message":"stream 'mic' has \"ended\""}"#))
            #expect(await connection.message() == .close(1000))
        }
        #expect(sessions.cancelled.load(ordering: .relaxed) == 1, "the subscription is cancelled when the feed ends")
    }

    @Test func refusalsAreAnErrorFrameThenAClose() async throws {
        try await withLiveView { port in
            let unknown = try #require(try await TestConnection.webSocket(port, "/v1/streams/nope/ws").connection)
            #expect(await unknown.message() == .text(#"{"error":"unknownStream","message":"no live stream named 'nope' (have: mic)"}"#))
            #expect(await unknown.message() == .close(1008))
            let bad = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/ws?start=later").connection)
            #expect(await bad.message() == .text(#"{"error":"badRequest","message":"start must be now or oldest, not 'later'"}"#))
            #expect(await bad.message() == .close(1008))
            let f16 = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/ws?payload=f16").connection)
            guard case .text(let text)? = await f16.message() else { throw LiveViewTestFailure("no error frame") }
            #expect(text.contains("payload must be f32"))
        }
        // Past the registry's max-clients: 1013, try again later.
        try await withLiveView(sessions: ScriptedSessions(maxClients: 1)) { port in
            let first = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/ws").connection)
            guard case .text? = await first.message() else { throw LiveViewTestFailure("the first feed did not start") }
            let second = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/ws").connection)
            guard case .text(let text)? = await second.message() else { throw LiveViewTestFailure("no error frame") }
            #expect(text.hasPrefix(#"{"error":"limitReached""#))
            #expect(await second.message() == .close(1013))
        }
    }

    @Test func everyFeedIsOneWebSocketSessionOfTheRegistry() async throws {
        let sessions = ScriptedSessions(maxClients: 1)
        let spectrogram = ScriptedSpectrogram()
        try await withLiveView(sessions: sessions, spectrogram: spectrogram) { port in
            // The spectrogram feed holds no subscription but is a client all the same: it takes the one place.
            let mel = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/mel/ws").connection)
            guard case .text? = await mel.message() else { throw LiveViewTestFailure("the spectrogram did not start") }
            for target in ["/v1/streams/mic/ws", "/v1/push/ws?format=s16le&rate=16000"] {
                let refused = try #require(try await TestConnection.webSocket(port, target).connection)
                #expect(await refused.message() == .text(
                    #"{"error":"limitReached","message":"the server already serves 1 clients"}"#))
                #expect(await refused.message() == .close(1013))
            }
            let watcher = try await spectrogram.watcher()
            watcher.ended()
            #expect(await mel.message() == .close(1000))
            // Its place is given back when it ends.
            for _ in 0..<2000 where sessions.openSessions.load(ordering: .relaxed) > 0 {
                try await Task.sleep(for: .milliseconds(5))
            }
            let feed = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/ws").connection)
            guard case .text(let started)? = await feed.message() else { throw LiveViewTestFailure("no start") }
            #expect(started.hasPrefix(#"{"started":"mic""#))
        }
        let admitted = sessions.admitted.withLock { $0 }
        #expect(admitted.map(\.client.transport) == [.websocket, .websocket])
        #expect(admitted.map(\.limits) == [SessionLimits(subscriptions: 0, pushes: 0), .oneCall])
    }

    @Test func aReaderThatDoesNotReadLosesLiveTokensInsteadOfGrowingTheQueue() async throws {
        let sessions = ScriptedSessions()
        try await withLiveView({ $0.liveQueueTokens = 4 }, sessions: sessions) { port in
            let connection = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/ws").connection)
            guard case .text? = await connection.message() else { throw LiveViewTestFailure("no start") }
            let receiver = try await sessions.subscribers(1)[0]
            // 64 KiB tokens: the socket's buffers hold some MB, then the queue's 4, then the feed refuses.
            let values = [Float](repeating: 0.25, count: 16_384)
            var accepted = 0
            while accepted < 2_000, receiver.live(ScriptedSessions.token(UInt64(accepted), values: values)) {
                accepted += 1
            }
            #expect(accepted < 2_000, "a reader that does not read must be refused, not queued for")
            #expect(sessions.resumes.withLock { $0.isEmpty })
            // Reading it all gives room again: the subscription is resumed (the hub then sends `lagged`).
            for _ in 0..<(2 * accepted) {
                guard case .text? = await connection.message(), case .binary(let bytes)? = await connection.message() else {
                    throw LiveViewTestFailure("a token was not a header and values")
                }
                #expect(bytes.count == 65_536)
                if !sessions.resumes.withLock({ $0.isEmpty }) { break }
            }
            #expect(sessions.resumes.withLock { $0 } .first.map { $0 >= 2 } == true)
            receiver.event(EventInfo(.lagged, at: 0, count: 7))
            var lagged = false
            while let message = await connection.message() {
                if case .text(let text) = message, text.hasPrefix(#"{"event":"lagged""#) {
                    lagged = text == #"{"event":"lagged","at":0,"count":7,"message":""}"#
                    break
                }
            }
            #expect(lagged)
        }
    }

    @Test func theSpectrogramFeedSendsFramesAndClosesWhenTheStreamEnds() async throws {
        let spectrogram = ScriptedSpectrogram()
        try await withLiveView(spectrogram: spectrogram) { port in
            let connection = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/mel/ws").connection)
            #expect(await connection.message() == .text(#"{"started":"mic","bins":128,"hopSamples":160}"#))
            let watcher = try await spectrogram.watcher()
            let frames = (0..<256).map { Float($0) - 100.5 }
            watcher.frames(1_600, frames)
            watcher.ended()
            #expect(await connection.message() == .text(#"{"mel":1600,"frames":2,"bins":128}"#))
            #expect(await connection.message() == .binary(frames.withUnsafeBytes { Array($0) }))
            #expect(await connection.message() == .close(1000))
            let unknown = try #require(try await TestConnection.webSocket(port, "/v1/streams/nope/mel/ws").connection)
            #expect(await unknown.message() == .text(#"{"error":"unknownStream","message":"no live stream named 'nope'"}"#))
        }
        #expect(spectrogram.stopped.load(ordering: .relaxed) == 1)
        // Without a spectrogram source there is no such feed.
        try await withLiveView { port in
            let status = try await TestConnection.webSocket(port, "/v1/streams/mic/mel/ws").status
            #expect(status == 426)
        }
    }

    @Test func aSlowSpectrogramReaderLosesChunksAndIsToldHowMany() async throws {
        let spectrogram = ScriptedSpectrogram()
        try await withLiveView({ $0.melQueueFrames = 16 }, spectrogram: spectrogram) { port in
            let connection = try #require(try await TestConnection.webSocket(port, "/v1/streams/mic/mel/ws").connection)
            guard case .text? = await connection.message() else { throw LiveViewTestFailure("no start") }
            let watcher = try await spectrogram.watcher()
            // 100 frames (51 200 B) a chunk, 4000 chunks: 200 MB if nothing were dropped.
            let chunk = [Float](repeating: -3, count: 128 * 100)
            for i in 0..<4_000 { watcher.frames(Int64(i) * 16_000, chunk) }
            watcher.ended()
            var chunks = 0, lost: UInt64 = 0
            while let message = await connection.message() {
                switch message {
                case .text(let text) where text.hasPrefix(#"{"event":"lagged""#):
                    let fields = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                    lost += UInt64(try #require(fields["count"] as? Int))
                case .binary: chunks += 1
                case .close(let code): #expect(code == 1000)
                default: break
                }
                if case .close = message { break }
            }
            #expect(lost > 0 && chunks < 4_000, "chunks sent \(chunks), frames lost \(lost)")
            #expect(UInt64(chunks) * 100 + lost == 400_000, "every frame is either sent or counted lost")
        }
    }

    @Test func aPushTakesAudioFramesAndAFinishAndSendsItsTokens() async throws {
        let sessions = ScriptedSessions()
        try await withLiveView(sessions: sessions) { port in
            let connection = try #require(try await TestConnection.webSocket(
                port, "/v1/push/ws?format=f32le&rate=48000&channels=2&label=mine&output=encoder").connection)
            #expect(await connection.message() == .text(
                #"{"started":"mine","firstToken":0,"width":2,"output":"encoder","sampleRate":16000,"samplesPerToken":640}"#))
            let samples: [Float] = [0.5, -1, 0.25, 0, 1, 2]     // three stereo frames
            let bytes = samples.withUnsafeBytes { Array($0) }
            connection.sendFrame(Array(bytes[..<8]))
            connection.sendFrame(Array(bytes[8...]))
            connection.sendFrame(Array(#"{"finish":true}"#.utf8), text: true)
            guard case .text(let header)? = await connection.message() else { throw LiveViewTestFailure("no token") }
            #expect(header.hasPrefix(#"{"token":0,"firstSample":0,"time":0.000,"#))
            #expect(await connection.message() == .binary(Array(bytes[..<12])))
            #expect(await connection.message() == .text(#"{"event":"ended","at":0,"count":1,"message":"done"}"#))
            #expect(await connection.message() == .close(1000))
            let push = try #require(sessions.pushes.withLock { $0.first })
            #expect(push.audio.withLock { $0 } == bytes)
            #expect(push.parameters.format == .f32le && push.parameters.sampleRate == 48_000)
            #expect(push.parameters.channels == 2 && push.parameters.output == .encoder)
            #expect(push.credits.load(ordering: .relaxed) == 1, "the token's credit is released once it is written")
        }
    }

    @Test func aPushRefusesPartFramesAndBadRequests() async throws {
        let sessions = ScriptedSessions()
        try await withLiveView(sessions: sessions) { port in
            let part = try #require(try await TestConnection.webSocket(
                port, "/v1/push/ws?format=s16le&rate=16000&channels=2").connection)
            guard case .text? = await part.message() else { throw LiveViewTestFailure("no start") }
            part.sendFrame([1, 2, 3, 4, 5, 6])
            #expect(await part.message() == .text(
                #"{"error":"badAudio","message":"audio must be whole frames of 4 bytes; got 6 bytes"}"#))
            #expect(await part.message() == .close(1008))
            for (query, message) in [("format=u8&rate=16000", "format must be s16le, s32le or f32le"),
                                     ("format=s16le&rate=fast", "rate must be a whole number of hertz"),
                                     // The ranges are the session layer's checks, shared with the socket and gRPC.
                                     ("format=s16le&rate=999", "sample rate 999 is outside 1000…768000"),
                                     ("format=s16le&rate=16000&channels=65", "channel count 65 is outside 1…64"),
                                     ("format=s16le&rate=16000&speech=maybe", "speech must be all, only or off, not 'maybe'")] {
                let bad = try #require(try await TestConnection.webSocket(port, "/v1/push/ws?" + query).connection)
                #expect(await bad.message() == .text(#"{"error":"badRequest","message":"\#(message)"}"#))
            }
            let text = try #require(try await TestConnection.webSocket(
                port, "/v1/push/ws?format=s16le&rate=16000").connection)
            guard case .text? = await text.message() else { throw LiveViewTestFailure("no start") }
            text.sendFrame(Array("hello".utf8), text: true)
            guard case .text(let refusal)? = await text.message() else { throw LiveViewTestFailure("no refusal") }
            #expect(refusal.hasPrefix(#"{"error":"badRequest""#))
        }
        #expect(sessions.pushes.withLock { $0.allSatisfy { $0.cancelled.load(ordering: .relaxed) } })
    }
}

/// The wall clock in ns since the Unix epoch, as token capture times are.
enum StreamFeedClock {
    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
