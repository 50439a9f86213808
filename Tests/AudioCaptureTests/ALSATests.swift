import Foundation
import Testing
import Resampling
@testable import AudioCapture

/// ALSA through the card-less `file` PCM over a `null` slave (recipes §3), opened from in-memory configuration
/// text with `snd_pcm_open_lconf`: no sound card, no alsa.conf, real alsa-lib.
@Suite struct ALSAFilePluginTests {
    /// The PCM `cap` reads raw frames from `infile`; format, rate and channels come from hw_params.
    static func configuration(infile: String) -> String {
        #"pcm.cap { type file slave.pcm { type null } file "/dev/null" infile "\#(infile)" format "raw" }"#
    }

    func session(raw: Data, format: StreamFormat) async throws -> (CaptureSession, String) {
        let dir = try temporaryDirectory("alsa")
        let path = "\(dir)/in.raw"
        try raw.write(to: URL(fileURLWithPath: path))
        var config = CaptureConfiguration()
        config.alsaConfiguration = Self.configuration(infile: path)
        config.deviceSampleFormat = format.sampleFormat
        config.deviceRate = format.sampleRate
        config.deviceChannels = format.channels
        config.queue = .backpressure(capacity: 8)   // the null slave is unpaced: let the consumer set the pace
        let session = try await withTimeout(10, "opening alsa:cap") { [config] in
            try await CaptureSession.start(.alsa(device: "cap"), configuration: config)
        }
        return (session, dir)
    }

    @Test func sixteenKilohertzMonoIsBitExact() async throws {
        let reference = randomInt16(count: 48_000, seed: 11)
        let (session, dir) = try await session(raw: bytes(reference),
                                               format: StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1))
        defer { session.stop(); try? FileManager.default.removeItem(atPath: dir) }
        #expect(session.deviceFormat == StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1))
        let events = try await collect(session, samples: reference.count)
        let got = Array(events.samples.prefix(reference.count))
        #expect(got.count == reference.count)
        let exact = got == reference.map { Float($0) / 32768 }
        #expect(exact, "16 kHz mono through ALSA must be bit-exact")
        // Positions are contiguous from 0 and the first chunk says so.
        var next: Int64 = 0
        for chunk in events.chunks {
            #expect(chunk.firstSample == next)
            next = chunk.endSample
        }
        #expect(events.chunks.first?.flags == [.streamStart])
        #expect(events.discontinuities.isEmpty)
    }

    @Test func fortyEightKilohertzStereoIsResampledExactlyLikeTheLibrary() async throws {
        let frames = 48_000
        let reference = randomInt16(count: frames * 2, seed: 12)
        let (session, dir) = try await session(raw: bytes(reference),
                                               format: StreamFormat(sampleFormat: .s16le, sampleRate: 48000, channels: 2))
        defer { session.stop(); try? FileManager.default.removeItem(atPath: dir) }
        let wanted = 14_000   // less than 16000 minus the resampler's latency: no stale frames involved
        let events = try await collect(session, samples: wanted)
        let got = Array(events.samples.prefix(wanted))
        var mono: [Float] = []
        reference.map { Float($0) / 32768 }.withUnsafeBufferPointer { Downmix.toMono($0, channels: 2, into: &mono) }
        let expected = Array(try Resampler.resample(mono, from: 48000, to: 16000).prefix(wanted))
        #expect(got.count == wanted)
        let exact = got == expected
        #expect(exact, "worst difference \(zip(got, expected).map { abs($0 - $1) }.max() ?? 0)")
    }

    @Test func negotiatesWhatTheDeviceOffersWhenNothingIsRequested() async throws {
        let dir = try temporaryDirectory("alsa")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/in.raw"
        try Data(count: 64_000).write(to: URL(fileURLWithPath: path))
        let pcm = try ALSAPCM(name: "cap", configuration: Self.configuration(infile: path))
        let negotiated = try pcm.configure(sampleFormat: nil, rate: nil, channels: nil, periodMilliseconds: 20)
        // The null slave takes anything: float first, 16 kHz natively, the fewest channels.
        #expect(negotiated.format == StreamFormat(sampleFormat: .f32le, sampleRate: 16000, channels: 1))
        #expect(negotiated.periodFrames == 320)
        #expect(negotiated.bufferFrames >= 3200)
    }

    @Test func recoveringFromEPIPEOnTheRealPCMLosesNoFileData() throws {
        // recipes §3: snd_pcm_recover(-EPIPE) on the file PCM re-prepares it and reading continues.
        let dir = try temporaryDirectory("alsa")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/in.raw"
        let reference = randomInt16(count: 6400, seed: 13)
        try bytes(reference).write(to: URL(fileURLWithPath: path))
        let pcm = try ALSAPCM(name: "cap", configuration: Self.configuration(infile: path))
        _ = try pcm.configure(sampleFormat: .s16le, rate: 16000, channels: 1, periodMilliseconds: 20)
        var got: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 320)
        for i in 0..<20 {
            if i == 7 { #expect(pcm.recover(-EPIPE) == 0) }
            let n = buffer.withUnsafeMutableBytes { pcm.readInterleaved($0.baseAddress!, frames: 320) }
            #expect(n == 320)
            got += buffer
        }
        #expect(got == reference)
    }

    @Test func unknownDeviceFailsToStartWithTheALSAReason() async throws {
        var config = CaptureConfiguration()
        config.alsaConfiguration = Self.configuration(infile: "/dev/null")
        let error = await #expect(throws: CaptureError.self) {
            try await withTimeout(10, "opening alsa:nosuch") { [config] in
                try await CaptureSession.start(.alsa(device: "nosuch"), configuration: config)
            }
        }
        #expect(error?.kind == .unavailable)
        #expect(error?.description.contains("snd_pcm_open nosuch") == true)
    }
}

/// A PCM double for the fault seam: serves frames from memory and fails where told.
final class FakePCM: PCMStream, @unchecked Sendable {
    private let lock = NSLock()
    private let frames: [Int16]
    private let channels: Int
    private var position = 0
    private var reads = 0
    /// Read number → the error that read returns (e.g. -EPIPE).
    private let faults: [Int: Int32]
    let lossPerOverrun: Int64?
    private(set) var recoveries: [Int32] = []

    init(frames: [Int16], channels: Int = 1, faults: [Int: Int32], lossPerOverrun: Int64?) {
        self.frames = frames
        self.channels = channels
        self.faults = faults
        self.lossPerOverrun = lossPerOverrun
    }

    var recoveryCalls: [Int32] { lock.withLock { recoveries } }

    func wait(milliseconds: Int32) -> Int32 {
        let exhausted = lock.withLock { position >= frames.count && faults[reads + 1] == nil }
        if exhausted {
            Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
            return 0
        }
        return 1
    }

    func readInterleaved(_ buffer: UnsafeMutableRawPointer, frames wanted: Int) -> Int {
        lock.withLock {
            reads += 1
            if let error = faults[reads] { return Int(error) }
            let n = min(wanted, (frames.count - position) / channels)
            let out = buffer.assumingMemoryBound(to: Int16.self)
            for i in 0..<(n * channels) { out[i] = frames[position + i].littleEndian }
            position += n * channels
            return n
        }
    }

    func recover(_ error: Int32) -> Int32 {
        lock.withLock { recoveries.append(error) }
        return 0
    }

    func overrunLoss(rate: Int) -> Int64? { lossPerOverrun }
}

/// The fault policy through the seam: a real ``ALSACaptureDevice`` and session over a ``FakePCM``.
@Suite struct ALSAFaultTests {
    func start(_ pcm: FakePCM, rate: Int, channels: Int, period: Int,
               opener: DeviceOpener? = nil) async throws -> CaptureSession {
        let configuration = PCMConfiguration(
            format: StreamFormat(sampleFormat: .s16le, sampleRate: rate, channels: channels),
            periodFrames: period, bufferFrames: period * 10)
        var config = CaptureConfiguration()
        config.queue = .backpressure(capacity: 16)
        config.reconnectDelay = .milliseconds(10)
        // No stall timeout: once a fake PCM has delivered its frames it waits for ever, so statistics read after
        // `collect` cannot change under them on a slow machine (a 5 s timeout there counted a "lost" device).
        let open: DeviceOpener = opener ?? {
            ALSACaptureDevice(stream: pcm, configuration: configuration, stallTimeout: nil)
        }
        return try await withTimeout(10, "starting the fake PCM") { [config] in
            try await CaptureSession.start(source: .alsa(device: "fake"), configuration: config, opener: open)
        }
    }

    @Test func injectedEPIPEIsRecoveredCountedAndReported() async throws {
        let reference = randomInt16(count: 3200, seed: 21)   // ten periods of 320
        let pcm = FakePCM(frames: reference, faults: [4: -EPIPE], lossPerOverrun: 800)
        let session = try await start(pcm, rate: 16000, channels: 1, period: 320)
        defer { session.stop() }
        let events = try await collect(session, samples: reference.count)

        #expect(pcm.recoveryCalls == [-EPIPE])
        #expect(session.statistics.overruns == 1)
        #expect(session.statistics.samplesLost == 800)
        // Three periods, then the gap, then the rest, all samples intact.
        #expect(events.discontinuities == [
            Discontinuity(reason: .overrun, at: 960, lostSamples: 800, lostDeviceFrames: 800),
        ])
        #expect(events.samples == reference.map { Float($0) / 32768 })
        let after = try #require(events.chunks.first { $0.firstSample >= 960 })
        #expect(after.firstSample == 960 + 800)
        #expect(after.flags.contains(.afterDiscontinuity))
        // The discontinuity comes between the chunk that ends at 960 and the one that starts at 1760.
        let index = try #require(events.firstIndex { if case .discontinuity = $0 { true } else { false } })
        if case .audio(let before) = events[index - 1] { #expect(before.endSample == 960) }
        else { Issue.record("no audio right before the discontinuity") }
    }

    @Test func suspendIsRecoveredAndCounted() async throws {
        let reference = randomInt16(count: 1600, seed: 22)
        let pcm = FakePCM(frames: reference, faults: [2: -ESTRPIPE], lossPerOverrun: nil)
        let session = try await start(pcm, rate: 16000, channels: 1, period: 320)
        defer { session.stop() }
        let events = try await collect(session, samples: reference.count)
        #expect(pcm.recoveryCalls == [-ESTRPIPE])
        #expect(session.statistics.suspends == 1)
        #expect(events.discontinuities.map(\.reason) == [.suspend])
        #expect(events.discontinuities.first?.at == 320)
        #expect(events.samples == reference.map { Float($0) / 32768 })
    }

    /// At 48 kHz the loss is converted onto the 16 kHz timeline and the resampler restarts after the gap.
    @Test func overrunAtFortyEightKilohertzKeepsPositionsTrue() async throws {
        let reference = randomInt16(count: 960 * 2 * 10, seed: 23)   // ten 20 ms periods of stereo
        let pcm = FakePCM(frames: reference, channels: 2, faults: [6: -EPIPE], lossPerOverrun: 4800)
        let session = try await start(pcm, rate: 48000, channels: 2, period: 960)
        defer { session.stop() }
        // Five periods (4800 frames → 1600 outputs, flushed at the gap), 100 ms lost, five more periods.
        let events = try await collect(session, samples: 3200 - 143, seconds: 20)
        let gap = try #require(events.discontinuities.first)
        #expect(gap == Discontinuity(reason: .overrun, at: 1600, lostSamples: 1600, lostDeviceFrames: 4800))
        let before = events.chunks.filter { $0.firstSample < 1600 }
        #expect(before.last?.endSample == 1600)
        let after = try #require(events.chunks.first { $0.firstSample >= 1600 })
        #expect(after.firstSample == 3200)
        // The audio before the gap is exactly the library's resampling of those frames, flushed.
        var mono: [Float] = []
        Array(reference.prefix(4800 * 2)).map { Float($0) / 32768 }.withUnsafeBufferPointer {
            Downmix.toMono($0, channels: 2, into: &mono)
        }
        let expected = try Resampler.resample(mono, from: 48000, to: 16000)
        #expect(before.flatMap(\.samples) == expected)
    }

    @Test func lostDeviceIsReopenedAndReported() async throws {
        let first = FakePCM(frames: randomInt16(count: 640, seed: 24), faults: [3: -ENODEV], lossPerOverrun: nil)
        let second = FakePCM(frames: randomInt16(count: 640, seed: 25), faults: [:], lossPerOverrun: nil)
        let opened = OpenCounter()
        let configuration = PCMConfiguration(format: StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1),
                                             periodFrames: 320, bufferFrames: 3200)
        let session = try await start(first, rate: 16000, channels: 1, period: 320) { () throws(DeviceFailure) in
            switch opened.next() {
            case 0: return ALSACaptureDevice(stream: first, configuration: configuration, stallTimeout: nil)
            case 1: throw .lost("snd_pcm_open fake: No such device (-19)")   // still unplugged
            default: return ALSACaptureDevice(stream: second, configuration: configuration, stallTimeout: nil)
            }
        }
        defer { session.stop() }
        let events = try await collect(session, samples: 1280)
        let kinds = events.map { event -> String in
            switch event {
            case .audio: "audio"
            case .deviceLost: "lost"
            case .deviceRestored: "restored"
            case .discontinuity(let d): "gap:\(d.reason)"
            case .dropped: "dropped"
            }
        }
        #expect(kinds == ["audio", "audio", "lost", "restored", "gap:deviceLost", "audio", "audio"])
        if case .deviceLost(let loss) = events[2] {
            #expect(loss.at == 640)
            #expect(loss.reason.contains("No such device"))
        }
        #expect(opened.count == 3)
        #expect(session.statistics.deviceLosses == 1 && session.statistics.deviceRestores == 1)
        let gap = try #require(events.discontinuities.first)
        // Two failed-then-successful reopen waits: 10 ms + 20 ms at least.
        #expect(gap.lostSamples >= 480)
        #expect(events.chunks[2].firstSample == 640 + gap.lostSamples)
        #expect(events.chunks[2].flags == [.streamStart, .afterDiscontinuity])
    }

    /// A device that stops delivering without an error (a stalled USB microphone) counts as lost.
    @Test func stalledDeviceCountsAsLost() async throws {
        let pcm = FakePCM(frames: randomInt16(count: 320, seed: 27), faults: [:], lossPerOverrun: nil)
        let configuration = PCMConfiguration(format: StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1),
                                             periodFrames: 320, bufferFrames: 3200)
        let session = try await start(pcm, rate: 16000, channels: 1, period: 320) {
            ALSACaptureDevice(stream: pcm, configuration: configuration, stallTimeout: .milliseconds(300))
        }
        defer { session.stop() }
        let events = try await collect(session, samples: .max, seconds: 10) { events in
            events.contains { if case .deviceLost = $0 { true } else { false } }
        }
        let loss = try #require(events.compactMap { if case .deviceLost(let l) = $0 { l } else { nil } }.first)
        #expect(loss.at == 320)
        #expect(loss.reason.contains("no data from the ALSA device"))
    }

    @Test func givesUpAfterTheConfiguredAttempts() async throws {
        let pcm = FakePCM(frames: randomInt16(count: 320, seed: 26), faults: [2: -EIO], lossPerOverrun: nil)
        let opened = OpenCounter()
        let configuration = PCMConfiguration(format: StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1),
                                             periodFrames: 320, bufferFrames: 3200)
        var config = CaptureConfiguration()
        config.reconnectDelay = .milliseconds(5)
        config.maxReconnectAttempts = 3
        let session = try await CaptureSession.start(source: .alsa(device: "fake"), configuration: config) {
            () throws(DeviceFailure) in
            if opened.next() == 0 {
                return ALSACaptureDevice(stream: pcm, configuration: configuration, stallTimeout: .seconds(5))
            }
            throw .lost("gone")
        }
        let error = await #expect(throws: CaptureError.self) {
            _ = try await collect(session, samples: .max, seconds: 10)
        }
        #expect(error?.kind == .gaveUp)
        #expect(opened.count == 4)
    }
}

final class OpenCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var opened = 0
    func next() -> Int { lock.withLock { defer { opened += 1 }; return opened } }
    var count: Int { lock.withLock { opened } }
}
