import AudioCore
import EarshotCLI
import EarshotClient
import Foundation
import Resampling
import Testing
import WireProtocol

/// Issue #19, items 3–4, against the real executable and real sockets: pushed audio is bounded in samples whatever
/// the chunk size or rate, and subscribers that never read cost nothing per token and delay no one.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BoundedWorkTests {
    /// Pushes `samples` (f32, mono, at `rate`) in chunks of `chunk` samples and reads every token, as
    /// `earshot push` does but with the chunks the test picks.
    static func push(_ samples: [Float], rate: Int, chunk: Int, socket: String) async throws -> [Float] {
        try await EarshotConnection.withConnection(to: socket, clientName: "bounded push") { connection in
            let stream = try await connection.startPush(format: .f32le, sampleRate: rate)
            return try await withThrowingTaskGroup(of: [Float]?.self) { group in
                group.addTask {
                    var start = 0
                    while start < samples.count {
                        let end = min(samples.count, start + chunk)
                        try await connection.push(Array(samples[start..<end]), to: stream)
                        start = end
                    }
                    try await connection.endPush(stream)
                    return nil
                }
                group.addTask {
                    var values: [Float] = []
                    for try await message in connection.messages {
                        switch message {
                        case .embedding(let frame) where frame.stream == stream.id: values += frame.values
                        case .event(let event) where event.stream == stream.id && event.kind == .ended: return values
                        case .error(let error): throw error
                        default: break
                        }
                    }
                    throw TestFailure("the connection closed before the pushed stream ended")
                }
                var values: [Float] = []
                for try await result in group { if let result { values = result } }
                return values
            }
        }
    }

    /// Item 3: one pushed stream at 1 kHz in chunks of 240 000 samples (960 KB frames, 4 minutes of audio each,
    /// 16 times as many samples after resampling). Before the fix each chunk entered the engine at once (+840 MB
    /// per 1 MB chunk in the probe); now the stream never holds more than the push budget (2 s) plus one piece
    /// (0.25 s) in 16 kHz samples, which status reports, and the tokens are `earshot encode`'s, bit for bit.
    @Test func bigChunksAtALowRateStayWithinThePushBudget() async throws {
        let daemon = try Daemon()
        defer { _ = daemon.terminate() }
        // 5 minutes at 1 kHz: the speech fixture brought down to 1 kHz, repeated.
        let clip = try Resampler.resample(try AudioInput.loadMono16k(path: Paths.wav("speech")), from: 16_000,
                                          to: 1_000)
        var repeated: [Float] = []
        while repeated.count < 300_000 { repeated += clip }
        let audio = repeated
        let wav = daemon.scratch.file("low-rate.wav")
        try WAV.write(path: wav, samples: audio, sampleRate: 1_000, channels: 1, format: .f32le)

        let socket = daemon.socket
        let pushed = try await withTimeout(150, "the 1 kHz push") {
            try await Self.push(audio, rate: 1_000, chunk: 240_000, socket: socket)
        }
        let status = try await EarshotConnection.withConnection(to: socket) { try await $0.statusReport() }
        let bound = UInt64(32_000 - 1 + 4_000)
        #expect(status.totals.pushedPeakSamples > 0)
        #expect(status.totals.pushedPeakSamples <= bound,
                "a pushed stream held \(status.totals.pushedPeakSamples) samples (bound \(bound))")

        let encoded = try Encoding.run(modelPath: Paths.model(), inputPath: wav, stage: .embeddings, streaming: nil,
                                       threads: 1)
        #expect(pushed.count == encoded.values.count)
        let worst = worstDifference(pushed, encoded.values)
        #expect(worst == 0, "pusher: worst |daemon − earshot encode| = \(worst)")
        #expect(daemon.terminate()?.code == 0)
    }

    /// Item 4: 30 connections × 64 `oldest` subscriptions that never read (1 920 stalled subscribers) while a 24 s
    /// live file plays. Before the fix every token went into every stalled queue, on the compute thread: the same
    /// shape (36 s, measured) lost 25.6 s of capture and a reader got 25 tokens. Now the hub skips each stalled
    /// subscription once its queue is full, so a reader gets every token in order with no `lagged`, and the live
    /// stream loses no audio (status: no overrun, no capture loss).
    @Test func subscribersThatNeverReadDelayNoOneAndCaptureLosesNothing() async throws {
        let scratch = ScratchDirectory()
        let speech = try WAV.read(path: Paths.wav("speech"))
        #expect(speech.info.sampleRate == 16_000 && speech.info.channels == 1 && speech.samples.count == 48_000)
        let long = scratch.file("long.wav")
        try WAV.write(path: long, samples: Array([[Float]](repeating: speech.samples, count: 8).joined()),
                      sampleRate: 16_000, channels: 1)
        let daemon = try Daemon(source: "mic=file:\(long)", config: "send-buffer-bytes = 4096\nmax-clients = 40\n")
        defer { _ = daemon.terminate() }
        var stalled: [RawClient] = []
        for _ in 0..<30 {
            let client = try RawClient(daemon.socket)
            _ = try client.handshake()
            for k in 0..<64 { client.send(.subscribe(Subscribe(request: UInt32(k), stream: "mic", start: .oldest))) }
            stalled.append(client)
        }
        let socket = daemon.socket
        let (tokens, status) = try await withTimeout(60, "the reader") {
            try await EarshotConnection.withConnection(to: socket) { connection in
                let sub = try await connection.subscribe(to: "mic", from: .oldest)
                var tokens: [Int] = []
                loop: for try await message in connection.messages {
                    switch message {
                    case .embedding(let frame) where frame.stream == sub.id: tokens.append(frame.token)
                    case .event(let event) where event.stream == sub.id && event.kind == .lagged:
                        throw TestFailure("the reader lagged: \(event)")
                    case .event(let event) where event.stream == sub.id && event.kind == .ended: break loop
                    default: break
                    }
                }
                return (tokens, try await connection.statusReport())
            }
        }
        #expect(tokens == Array(0..<600))   // 8 × 3 s, 640 samples a token
        let mic = status.streams.first { $0.name == "mic" }
        #expect(mic?.overrunSamples == 0)
        #expect(mic?.captureLostSamples == 0)
        #expect(status.totals.overrunSamples == 0 && status.totals.captureLostSamples == 0)
        #expect(status.clients == 31)
        withExtendedLifetime(stalled) {}
        #expect(daemon.terminate()?.code == 0)
    }
}
