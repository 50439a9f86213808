import Foundation
import Testing
import Resampling
@testable import AudioCapture

/// PulseAudio through a real, throwaway server per test (module-pipe-source, no hardware; recipes §4).
/// Each test has its own directory and socket, so they may run in parallel.
@Suite(.enabled(if: PulseServer.binary != nil, "pulseaudio is not installed: skipping the PulseAudio tests"))
struct PulseTests {
    func start(_ server: PulseServer, source: String? = "src") async throws -> CaptureSession {
        var config = CaptureConfiguration()
        config.pulseServer = server.server
        config.reconnectDelay = .milliseconds(100)
        config.queue = .backpressure(capacity: 200)
        return try await withTimeout(15, "connecting to \(server.server)") { [config] in
            try await CaptureSession.start(.pulse(source: source), configuration: config)
        }
    }

    @Test func sixteenKilohertzMonoIsBitExact() async throws {
        let server = try PulseServer(rate: 16000, channels: 1)
        try await server.start()
        let session = try await start(server)
        defer { session.stop() }
        #expect(session.deviceFormat == StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1))
        let reference = randomInt16(count: 16000, seed: 31)
        feedFIFO(server.fifo, bytes(reference))
        let events = try await collect(session, samples: reference.count)
        let got = Array(events.samples.prefix(reference.count))
        let exact = got == reference.map { Float($0) / 32768 }
        #expect(exact, "16 kHz mono through PulseAudio must be bit-exact")
        #expect(events.chunks.first?.firstSample == 0)
        #expect(events.discontinuities.isEmpty)
    }

    @Test func defaultSourceIsUsedForPulseColon() async throws {
        let server = try PulseServer(rate: 16000, channels: 1)
        try await server.start()
        // The pipe source is the only real source, so it is the default.
        let session = try await start(server, source: nil)
        defer { session.stop() }
        let reference = randomInt16(count: 3200, seed: 32)
        feedFIFO(server.fifo, bytes(reference))
        let events = try await collect(session, samples: reference.count)
        #expect(Array(events.samples.prefix(reference.count)) == reference.map { Float($0) / 32768 })
    }

    @Test func fortyEightKilohertzStereoIsDownmixedAndResampled() async throws {
        let server = try PulseServer(rate: 48000, channels: 2)
        try await server.start()
        let session = try await start(server)
        defer { session.stop() }
        #expect(session.deviceFormat == StreamFormat(sampleFormat: .s16le, sampleRate: 48000, channels: 2))
        // 1 kHz at 0.5 in the left channel, 0.25 in the right: the downmix is 0.375.
        let frames = 48000
        var interleaved: [Int16] = []
        for i in 0..<frames {
            let s = sin(2 * Double.pi * 1000 * Double(i) / 48000)
            interleaved += [Int16((0.5 * s * 32767).rounded()), Int16((0.25 * s * 32767).rounded())]
        }
        feedFIFO(server.fifo, bytes(interleaved))
        let wanted = 15_000
        let events = try await collect(session, samples: wanted)
        let got = Array(events.samples.prefix(wanted))
        var mono: [Float] = []
        interleaved.map { Float($0) / 32768 }.withUnsafeBufferPointer { Downmix.toMono($0, channels: 2, into: &mono) }
        let expected = Array(try Resampler.resample(mono, from: 48000, to: 16000).prefix(wanted))
        let exact = got == expected
        #expect(exact, "worst difference \(zip(got, expected).map { abs($0 - $1) }.max() ?? 0)")
        // And it is a 1 kHz sine of amplitude 0.375 at 16 kHz.
        let peak = got[1000..<14000].map { abs($0) }.max() ?? 0
        #expect(abs(peak - 0.375) < 0.002)
        let crossings = zip(got[1000..<13000], got[1001..<13001]).filter { $0 < 0 && $1 >= 0 }.count
        #expect(crossings == 750)   // 12000 samples = 0.75 s of 1 kHz
    }

    @Test func killedServerGivesDeviceLostThenDeviceRestored() async throws {
        let server = try PulseServer(rate: 16000, channels: 1)
        try await server.start()
        let session = try await start(server)
        defer { session.stop() }
        let before = randomInt16(count: 3200, seed: 33)
        feedFIFO(server.fifo, bytes(before))
        var events = try await collect(session, samples: before.count)
        #expect(Array(events.samples.prefix(before.count)) == before.map { Float($0) / 32768 })

        try await server.stop(kill: true)
        let lost = try await collect(session, samples: .max, seconds: 15) { events in
            events.contains { if case .deviceLost = $0 { true } else { false } }
        }
        let loss = try #require(lost.compactMap { if case .deviceLost(let l) = $0 { l } else { nil } }.first)
        #expect(loss.at == 3200)

        try await server.start()   // same directory, same socket
        let restored = try await collect(session, samples: .max, seconds: 15) { events in
            events.contains { if case .deviceRestored = $0 { true } else { false } }
        }
        #expect(restored.contains(.deviceRestored(StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1))))

        let after = randomInt16(count: 3200, seed: 34)
        feedFIFO(server.fifo, bytes(after), after: 0.5)
        events = try await collect(session, samples: after.count)
        let gap = try #require(events.discontinuities.first ?? restored.discontinuities.first)
        #expect(gap.reason == .deviceLost && gap.at == 3200 && gap.lostSamples > 0)
        let first = try #require(events.chunks.first)
        #expect(first.firstSample == 3200 + gap.lostSamples)
        #expect(first.flags.contains(.streamStart))
        #expect(Array(events.samples.prefix(after.count)) == after.map { Float($0) / 32768 })
        #expect(session.statistics.deviceLosses == 1 && session.statistics.deviceRestores == 1)
    }

    @Test func noServerFailsToStartClearly() async throws {
        let dir = try temporaryDirectory("pa-none")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = CaptureConfiguration()
        config.pulseServer = "unix:\(dir)/native"
        let error = await #expect(throws: CaptureError.self) {
            try await withTimeout(10, "connecting to nothing") { [config] in
                try await CaptureSession.start(.pulse(source: nil), configuration: config)
            }
        }
        #expect(error?.kind == .unavailable)
        #expect(error?.description.contains("Connection refused") == true, "\(String(describing: error))")
    }

    @Test func listsSources() async throws {
        let server = try PulseServer(rate: 48000, channels: 2)
        try await server.start()
        let address = server.server
        let sources = try await onThread { try PulseConnection(server: address, timeout: .seconds(5)).sources() }
        let src = try #require(sources.first { $0.name == "src" })
        #expect(src.format == StreamFormat(sampleFormat: .s16le, sampleRate: 48000, channels: 2))
        #expect(!src.isMonitor)
        #expect(sources.contains { $0.name == "nullsink.monitor" && $0.isMonitor })
    }
}
