import AudioCore
import EarshotCLI
import EarshotClient
import Foundation
import Testing
import VoiceActivity
#if canImport(Glibc)
import Glibc
#endif

/// Voice activity through the real earshotd: the events a client sees are silero-vad's `VADIterator` events on the
/// same samples, computed here independently (the VoiceActivity module run directly, and the committed fixtures of
/// silero-vad's own JIT model); `earshot push --events` prints what `earshot vad` prints.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct VoiceActivityDaemonTests {
    static func vadCase(_ name: String) -> String { "\(Paths.fixtures)/vad/\(name)/input.wav" }

    static let weights = try! SileroVADWeights(path: "\(Paths.root)/models/silero-vad/silero_vad_16k_v6.safetensors")

    /// silero-vad's own events for a fixture case (tools/reference/make_vad_fixtures.py), as JSON lines.
    static func fixtureEvents(_ name: String) throws -> [String] {
        try String(contentsOfFile: "\(Paths.fixtures)/vad/\(name)/events.jsonl", encoding: .utf8)
            .split(separator: "\n").map(String.init)
    }

    /// A live stream read from a FIFO (`stdin:f32le:16000:1`): the test subscribes first, then writes the audio,
    /// so no event can pass before the subscription. Returns the daemon and the FIFO's write end.
    static func liveFromFIFO() throws -> (Daemon, Int32) {
        let scratch = ScratchDirectory()
        let fifo = scratch.file("audio.fifo")
        guard mkfifo(fifo, 0o600) == 0 else { throw TestFailure("mkfifo \(fifo): \(String(cString: strerror(errno)))") }
        // A writer exists, so the daemon's open does not block; close-on-exec keeps it out of the daemon.
        let writer = open(fifo, O_RDWR | O_CLOEXEC)
        guard writer >= 0 else { throw TestFailure("open \(fifo): \(String(cString: strerror(errno)))") }
        let daemon = try Daemon(source: "stdin:f32le:16000:1", stdin: fifo)
        return (daemon, writer)
    }

    /// Writes `samples` as f32le in 20 ms pieces at 4× real time (a live source faster than that would overrun
    /// the daemon's 4 s live backlog in a burst), then closes the FIFO (the stream ends).
    static func play(_ samples: [Float], into writer: Int32) throws {
        try samples.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(writer, raw.baseAddress! + offset, min(1280, raw.count - offset))
                guard n > 0 else { throw TestFailure("write to the FIFO: \(String(cString: strerror(errno)))") }
                offset += n
                usleep(5000)
            }
        }
        close(writer)
    }

    /// Everything one subscription receives until its `ended`.
    static func collect(_ connection: EarshotConnection, _ subscription: Subscription) async throws
        -> (frames: [EmbeddingFrame], events: [EarshotEvent]) {
        var frames: [EmbeddingFrame] = [], events: [EarshotEvent] = []
        for try await message in connection.messages {
            switch message {
            case .embedding(let frame) where frame.stream == subscription.id:
                frames.append(frame)
            case .event(let event) where event.stream == subscription.id:
                if event.kind == .ended { return (frames, events) }
                events.append(event)
            default:
                break
            }
        }
        throw TestFailure("the connection closed before the stream ended")
    }

    /// Events as `earshot vad` prints them.
    static func lines(_ events: [EarshotEvent]) -> [String] {
        events.compactMap { e -> String? in
            switch e.kind {
            case .speechStart: SpeechEvent.start(Int(e.at)).json
            case .speechEnd: SpeechEvent.end(Int(e.at)).json
            default: nil
            }
        }
    }

    /// A live subscriber with speech events sees every event of the stream at VADIterator's samples. Its `speech`
    /// flags, decided causally, are exact where the decision is forced: tokens from 1 024 samples after a start to
    /// the end are flagged (the start's window is in before their samples are), tokens from 2 080 samples after an
    /// end to the next start are not (the end is decided by then).
    @Test func aLiveSubscriberSeesTheSpeechEventsAtVADIteratorsSamples() async throws {
        let samples = try AudioInput.loadMono16k(path: Self.vadCase("pauses"))
        let direct = VoiceActivityRun.run(weights: Self.weights, samples: samples, events: SpeechEventConfiguration())
        let expected = direct.events.map(\.json)
        #expect(expected == (try Self.fixtureEvents("pauses")))
        let (daemon, writer) = try Self.liveFromFIFO()
        let socket = daemon.socket
        let (frames, events) = try await withTimeout(60, "the live subscriber") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                let subscription = try await connection.subscribe(to: "mic", speech: .events)
                try Self.play(samples, into: writer)
                return try await Self.collect(connection, subscription)
            }
        }
        #expect(Self.lines(events) == expected)
        #expect(events.allSatisfy { $0.kind == .speechStart || $0.kind == .speechEnd })
        #expect(frames.map(\.token) == Array(0..<frames.count))
        var runs: [(start: Int, end: Int)] = []
        for event in direct.events {
            switch event {
            case .start(let s): runs.append((s, .max))
            case .end(let e): runs[runs.count - 1].end = e
            }
        }
        for frame in frames {
            let f = frame.firstSample
            let inside = runs.contains { f >= $0.start + 1024 && f + 640 <= $0.end }
            let outside = runs.indices.contains { i in
                f >= runs[i].end + 2080 && (i + 1 == runs.count || f + 640 <= runs[i + 1].start)
            } || (f + 640 <= runs[0].start)
            if inside { #expect(frame.flags.contains(.speech), "token \(frame.token) at \(f)") }
            if outside { #expect(!frame.flags.contains(.speech), "token \(frame.token) at \(f)") }
        }
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// `speechOnly` gets exactly the tokens flagged speech (same indices, values and flags as an everything
    /// subscriber on the same stream) and the speech events; a subscriber that asked for nothing gets no speech event.
    @Test func aSpeechOnlySubscriptionGetsTheSpeechTokensAndTheEvents() async throws {
        let samples = try AudioInput.loadMono16k(path: Self.vadCase("pauses"))
        let (daemon, writer) = try Self.liveFromFIFO()
        let socket = daemon.socket
        let (everything, speech) = try await withTimeout(60, "two subscribers") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                let all = try await connection.subscribe(to: "mic")
                let only = try await connection.subscribe(to: "mic", speech: .speechOnly)
                try Self.play(samples, into: writer)
                var frames: [UInt32: [EmbeddingFrame]] = [:], events: [UInt32: [EarshotEvent]] = [:]
                var ended = 0
                for try await message in connection.messages {
                    switch message {
                    case .embedding(let frame): frames[frame.stream, default: []].append(frame)
                    case .event(let event) where event.kind == .ended:
                        ended += 1
                        if ended == 2 {
                            return ((frames[all.id] ?? [], events[all.id] ?? []),
                                    (frames[only.id] ?? [], events[only.id] ?? []))
                        }
                    case .event(let event): events[event.stream, default: []].append(event)
                    default: break
                    }
                }
                throw TestFailure("the connection closed before both streams ended")
            }
        }
        #expect(everything.1.isEmpty)
        #expect(Self.lines(speech.1) == (try Self.fixtureEvents("pauses")))
        let flagged = everything.0.filter { $0.flags.contains(.speech) }
        #expect(!flagged.isEmpty && flagged.count < everything.0.count)
        #expect(speech.0 == flagged.map { frame in
            var same = frame
            same.stream = speech.0.first?.stream ?? 0
            return same
        })
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// `earshot push --events` writes exactly what `earshot vad` prints for the same file (and silero-vad's own
    /// events), with the .npy beside it.
    @Test(arguments: ["pauses", "noisy"])
    func pushEventsEqualEarshotVad(_ name: String) async throws {
        let daemon = try Daemon(source: "none")
        let input = Self.vadCase(name)
        let events = daemon.scratch.file("\(name).jsonl"), output = daemon.scratch.file("\(name).npy")
        let push = try ChildProcess(Paths.executable("earshot"), [
            "push", "--socket", daemon.socket, "--input", input, "--output", output, "--events", events,
        ], logPath: daemon.scratch.file("push.log"))
        let vad = try ChildProcess(Paths.executable("earshot"), ["vad", "--input", input],
                                   logPath: daemon.scratch.file("vad.jsonl"))
        #expect(push.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(push.log)")
        #expect(vad.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(vad.log)")
        let pushed = try String(contentsOfFile: events, encoding: .utf8)
        #expect(!pushed.isEmpty)
        #expect(pushed == vad.log)
        #expect(pushed.split(separator: "\n").map(String.init) == (try Self.fixtureEvents(name)))
        #expect(try NPY.read(path: output).shape.first ?? 0 > 0)
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// A file that ends inside speech (`stereo44k`: 44.1 kHz stereo, resampled by the daemon as by `earshot vad`):
    /// `earshot vad`'s lines, then the end the daemon adds at one past the stream's last 16 kHz sample.
    @Test func pushedSpeechOpenAtTheEndEndsAtTheLastSample() async throws {
        let daemon = try Daemon(source: "none")
        let input = Paths.wav("stereo44k")
        let events = daemon.scratch.file("events.jsonl"), output = daemon.scratch.file("e.npy")
        let push = try ChildProcess(Paths.executable("earshot"), [
            "push", "--socket", daemon.socket, "--input", input, "--output", output, "--events", events,
        ], logPath: daemon.scratch.file("push.log"))
        let vad = try ChildProcess(Paths.executable("earshot"), ["vad", "--input", input],
                                   logPath: daemon.scratch.file("vad.jsonl"))
        #expect(push.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(push.log)")
        #expect(vad.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(vad.log)")
        let samples = try AudioInput.loadMono16k(path: input).count
        let alone = vad.log.split(separator: "\n").map(String.init)
        #expect(alone.last?.hasPrefix("{\"start\"") == true)     // the file ends inside speech
        let pushed = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(pushed == alone + [SpeechEvent.end(samples).json])
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// The Python example's `push --events` sends the options byte and reads speech events: the same lines.
    @Test func pythonExamplePushWritesTheSameEvents() async throws {
        guard let python = findExecutable("python3") else {
            Issue.record("python3 is needed for examples/python")
            return
        }
        let daemon = try Daemon(source: "none")
        let events = daemon.scratch.file("events.jsonl")
        let push = try ChildProcess(python, ["\(Paths.root)/examples/python/earshot_client.py", "--socket", daemon.socket,
                                             "push", "--input", Self.vadCase("pauses"), "--events", events],
                                    logPath: daemon.scratch.file("push.log"))
        #expect(push.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(push.log)")
        let lines = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == (try Self.fixtureEvents("pauses")))
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// The Python example's `listen --speech only`: VADIterator's events at their samples, and only speech-flagged
    /// tokens.
    @Test func pythonExampleListensToSpeechOnly() async throws {
        guard let python = findExecutable("python3") else {
            Issue.record("python3 is needed for examples/python")
            return
        }
        let samples = try AudioInput.loadMono16k(path: Self.vadCase("pauses"))
        let (daemon, writer) = try Self.liveFromFIFO()
        let socket = daemon.socket
        let listen = try ChildProcess(python, ["\(Paths.root)/examples/python/earshot_client.py", "--socket", socket,
                                               "listen", "--speech", "only"],
                                      logPath: daemon.scratch.file("python-listen.log"))
        try await withTimeout(30, "the Python listener subscribing") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                while true {
                    let status = try JSONSerialization.jsonObject(with: Data(try await connection.status().utf8))
                    let streams = (status as? [String: Any])?["streams"] as? [[String: Any]] ?? []
                    if streams.first?["subscribers"] as? Int == 1 { return }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        try Self.play(samples, into: writer)
        #expect(listen.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(listen.log)")
        var events: [String] = [], tokens = 0
        for line in listen.log.split(separator: "\n") where line.hasPrefix("{") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            // The same keys as `earshot listen`'s lines for the same events and tokens (docs/protocol.md, "Vocabulary").
            #expect(Set(object.keys) == (object["event"] != nil ? ListenVocabulary.eventKeys
                                                                 : ListenVocabulary.tokenKeys), "\(line)")
            switch object["event"] as? String {
            case "speechStart": events.append(SpeechEvent.start(object["at"] as? Int ?? -1).json)
            case "speechEnd": events.append(SpeechEvent.end(object["at"] as? Int ?? -1).json)
            case nil:
                tokens += 1
                #expect((object["flags"] as? [String] ?? []).contains("speech"), "\(line)")
            default:
                break
            }
        }
        #expect(events == (try Self.fixtureEvents("pauses")))
        #expect(tokens > 0)
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// `earshot listen`: jsonl has one `{"event":"speechStart"|"speechEnd","at":N,"count":0,"message":""}` line per
    /// event (then `ended`'s), in the order and at the samples of `VADIterator`; view shows each token as speech or silence, and with `--speech only`
    /// only speech tokens. Both listeners subscribe (the daemon's status says so) before the audio is written.
    @Test func earshotListenShowsSpeech() async throws {
        let samples = try AudioInput.loadMono16k(path: Self.vadCase("pauses"))
        let expected = try Self.fixtureEvents("pauses")
        let (daemon, writer) = try Self.liveFromFIFO()
        let socket = daemon.socket
        let jsonl = try ChildProcess(Paths.executable("earshot"), ["listen", "--socket", socket, "--format", "jsonl"],
                                     logPath: daemon.scratch.file("listen.jsonl"))
        let view = try ChildProcess(Paths.executable("earshot"), [
            "listen", "--socket", socket, "--format", "view", "--speech", "only",
        ], logPath: daemon.scratch.file("listen.view"))
        try await withTimeout(30, "two listeners subscribing") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                while true {
                    let status = try JSONSerialization.jsonObject(with: Data(try await connection.status().utf8))
                    let streams = (status as? [String: Any])?["streams"] as? [[String: Any]] ?? []
                    if streams.first?["subscribers"] as? Int == 2 { return }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
        try Self.play(samples, into: writer)
        #expect(jsonl.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(jsonl.log)")
        #expect(view.wait(timeout: 60).map(ChildProcess.exitCode) == 0, "\(view.log)")
        var events: [String] = [], tokens = 0, speechTokens = 0
        for line in jsonl.log.split(separator: "\n") where line.hasPrefix("{") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            if let kind = object["event"] as? String, let at = object["at"] as? Int {
                #expect(Set(object.keys) == ListenVocabulary.eventKeys, "\(line)")
                #expect(kind == "speechStart" || kind == "speechEnd" || kind == "ended")
                if kind == "ended" { continue }
                #expect(object["count"] as? Int == 0 && object["message"] as? String == "")
                events.append((kind == "speechStart" ? SpeechEvent.start(at) : SpeechEvent.end(at)).json)
            } else {
                #expect(Set(object.keys) == ListenVocabulary.tokenKeys, "\(line)")
                tokens += 1
                if (object["flags"] as? [String] ?? []).contains("speech") { speechTokens += 1 }
            }
        }
        #expect(events == expected)
        #expect(speechTokens > 0 && speechTokens < tokens)
        let rows = view.log.split(separator: "\n")
        let tokenRows = rows.filter { $0.contains(" ms  ") }      // index, audio time, latency "… ms", norm, voice
        #expect(tokenRows.count == speechTokens)
        #expect(tokenRows.allSatisfy { $0.contains("  speech   ") })
        #expect(rows.filter { $0.contains("speech starts at sample") }.count == expected.count / 2)
        #expect(rows.filter { $0.contains("speech ends at sample") }.count == expected.count / 2)
        #expect(daemon.terminate()?.code == 0, "\(daemon.log)")
    }

    /// `--no-vad`: speech options are refused (`voice-activity-off`, not fatal: the connection goes on), no token is
    /// flagged, and status says so; with voice activity on, status gives the settings.
    @Test func withoutVoiceActivitySpeechOptionsAreRefused() async throws {
        let off = try Daemon(source: "none", extra: ["--no-vad"])
        let offSocket = off.socket
        let (code, flagged, status) = try await withTimeout(60, "a push to a daemon without voice activity") {
            try await EarshotConnection.withConnection(to: offSocket) { connection in
                var code: String?
                do { _ = try await connection.startPush(speech: .events) } catch let error as EarshotError {
                    code = error.serverCode
                }
                let stream = try await connection.startPush()
                try await connection.push(try AudioInput.loadMono16k(path: Self.vadCase("pauses")), to: stream)
                try await connection.endPush(stream)
                var flagged = 0
                for try await message in connection.messages {
                    if case .embedding(let frame) = message, frame.flags.contains(.speech) { flagged += 1 }
                    if case .event(let event) = message, event.kind == .ended { break }
                }
                return (code, flagged, try await connection.status())
            }
        }
        #expect(code == "voice-activity-off")
        #expect(flagged == 0)
        #expect(status.contains(#""voiceActivity":{"on":false}"#))
        #expect(off.terminate()?.code == 0)
        let on = try Daemon(source: "none", extra: ["--vad-threshold", "0.6", "--vad-speech-pad-ms", "50"])
        let onSocket = on.socket
        let onStatus = try await withTimeout(30, "status") {
            try await EarshotConnection.withConnection(to: onSocket) { try await $0.status() }
        }
        let object = try JSONSerialization.jsonObject(with: Data(onStatus.utf8)) as? [String: Any]
        let vad = object?["voiceActivity"] as? [String: Any]
        #expect(vad?["on"] as? Bool == true && vad?["threshold"] as? Double == 0.6)
        #expect(vad?["minSilenceMs"] as? Int == 100 && vad?["speechPadMs"] as? Int == 50)
        #expect(on.terminate()?.code == 0)
    }
}
