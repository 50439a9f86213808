import AudioCore
import Foundation
import Testing
import Resampling
@testable import AudioCapture

@Suite struct FileSourceTests {
    @Test func fastFileIsBitExactAndEndsTheSequence() async throws {
        let dir = try temporaryDirectory("file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reference = randomInt16(count: 8000, seed: 41).map { Float($0) / 32768 }
        try WAV.write(path: "\(dir)/a.wav", samples: reference, sampleRate: 16000, channels: 1, format: .s16le)
        var config = CaptureConfiguration()
        config.realtime = false
        let session = try await CaptureSession.start(.file(path: "\(dir)/a.wav"), configuration: config)
        let events = try await collect(session, samples: .max, seconds: 10)   // ends by itself
        #expect(events.samples == reference)
        #expect(events.chunks.map(\.samples.count).allSatisfy { $0 == 320 })
    }

    @Test func fastFileAtFortyEightKilohertzStereoIsResampledAndFlushed() async throws {
        let dir = try temporaryDirectory("file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let interleaved = randomInt16(count: 4801 * 2, seed: 42).map { Float($0) / 32768 }
        try WAV.write(path: "\(dir)/b.wav", samples: interleaved, sampleRate: 48000, channels: 2, format: .s16le)
        var config = CaptureConfiguration()
        config.realtime = false
        let session = try await CaptureSession.start(try CaptureSource(spec: "file:\(dir)/b.wav"), configuration: config)
        #expect(session.deviceFormat == StreamFormat(sampleFormat: .s16le, sampleRate: 48000, channels: 2))
        let events = try await collect(session, samples: .max, seconds: 10)
        var mono: [Float] = []
        interleaved.withUnsafeBufferPointer { Downmix.toMono($0, channels: 2, into: &mono) }
        let expected = try Resampler.resample(mono, from: 48000, to: 16000)
        #expect(expected.count == 1600)
        #expect(events.samples == expected)
    }

    @Test func realtimeFileIsPacedLikeAMicrophone() async throws {
        let dir = try temporaryDirectory("file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try WAV.write(path: "\(dir)/c.wav", samples: [Float](repeating: 0.1, count: 8000), sampleRate: 16000,
                      channels: 1, format: .f32le)
        let clock = ContinuousClock()
        let start = clock.now
        let session = try await CaptureSession.start(.file(path: "\(dir)/c.wav"))   // realtime by default
        let events = try await collect(session, samples: .max, seconds: 10)
        let elapsed = clock.now - start
        #expect(events.samples.count == 8000)
        // No upper bound: a loaded CI machine may be slow, but pacing can never make it faster.
        #expect(elapsed >= .milliseconds(480), "0.5 s of audio took \(elapsed)")
    }

    @Test func missingFileFailsToStartNamingItsPathOnce() async {
        let error = await #expect(throws: CaptureError.self) {
            try await CaptureSession.start(.file(path: "/nonexistent/x.wav"))
        }
        #expect(error?.kind == .unavailable)
        #expect(error?.description.components(separatedBy: "/nonexistent/x.wav").count == 2,
                "\(String(describing: error))")
    }

    /// A looped file is one stream: copy k follows copy k − 1 with no gap and no event between them, and the
    /// resampler runs on across the seam, so three passes give the bits of capturing the file written three times.
    @Test func loopedFileDeliversCopiesOnOneTimeline() async throws {
        let dir = try temporaryDirectory("loop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let once = randomInt16(count: 2205 * 2, seed: 44).map { Float($0) / 32768 }   // 50 ms, 44.1 kHz stereo
        try WAV.write(path: "\(dir)/once.wav", samples: once, sampleRate: 44100, channels: 2, format: .s16le)
        try WAV.write(path: "\(dir)/thrice.wav", samples: once + once + once, sampleRate: 44100, channels: 2,
                      format: .s16le)
        var fast = CaptureConfiguration()
        fast.realtime = false
        let whole = try await collect(try await CaptureSession.start(.file(path: "\(dir)/thrice.wav"),
                                                                      configuration: fast), samples: .max)
        let expected = whole.samples
        #expect(expected.count == 2400)
        let spec = try SourceSpec("file:\(dir)/once.wav?loop,fast")
        var looping = CaptureConfiguration()
        spec.apply(to: &looping)
        let session = try await CaptureSession.start(spec.source, configuration: looping)
        let events = try await collect(session, samples: expected.count)
        session.stop()
        // The last chunk may run past three copies; the resampler's flush never happened, so compare the
        // samples the whole file had already produced at that point.
        let looped = Array(events.samples.prefix(expected.count - 200))
        #expect(looped == Array(expected.prefix(looped.count)))
        #expect(events.allSatisfy { if case .audio = $0 { true } else { false } }, "no event at the seams")
        let chunks = events.chunks
        for (previous, next) in zip(chunks, chunks.dropFirst()) { #expect(next.firstSample == previous.endSample) }
    }

    /// A file with no audio is refused when it opens (AudioFileReader), so a loop over it cannot spin; the looping
    /// device's own guard (a pass that delivers nothing ends the source) covers a file emptied between passes.
    @Test func anEmptyLoopedFileIsRefusedInsteadOfSpinning() async throws {
        let dir = try temporaryDirectory("loop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try WAV.write(path: "\(dir)/empty.wav", samples: [], sampleRate: 16000, channels: 1, format: .s16le)
        let spec = try SourceSpec("file:\(dir)/empty.wav?loop,fast")
        var configuration = CaptureConfiguration()
        spec.apply(to: &configuration)
        await #expect {
            _ = try await CaptureSession.start(spec.source, configuration: configuration)
        } throws: { error in
            "\(error)".contains("\(dir)/empty.wav: no audio")
        }
    }

    @Test func checkOpensAndDecodesAFileWithoutStarting() throws {
        let dir = try temporaryDirectory("check")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try WAV.write(path: "\(dir)/ok.wav", samples: [0.25, -0.25], sampleRate: 16000, channels: 1, format: .s16le)
        try CaptureSession.check(.file(path: "\(dir)/ok.wav"))
        try Data("RIFF\u{0}\u{0}\u{0}\u{0}WAVEjunk".utf8).write(to: URL(fileURLWithPath: "\(dir)/bad.wav"))
        for path in ["\(dir)/bad.wav", "\(dir)/missing.wav", dir] {
            let error = #expect(throws: CaptureError.self) { try CaptureSession.check(.file(path: path)) }
            #expect(error?.kind == .unavailable, "\(path): \(String(describing: error))")
            #expect(error?.description.components(separatedBy: path).count == 2, "\(String(describing: error))")
        }
    }
}

/// A close-on-exec pipe: a PulseAudio server spawned by a parallel test must not inherit the write end
/// (the reader would never see end of file). ci/pulse-server.sh also closes inherited descriptors.
func makePipe(_ fds: inout [Int32]) throws {
    try #require(pipe(&fds) == 0)
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
}

@Suite struct RawStreamTests {
    /// Raw PCM on a pipe, as `stdin:` reads it: partial frames across reads, end of stream at EOF.
    @Test func rawStereoFromAPipeIsResampledAndEnds() async throws {
        var fds: [Int32] = [0, 0]
        try makePipe(&fds)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }
        let format = StreamFormat(sampleFormat: .s16le, sampleRate: 48000, channels: 2)
        let samples = randomInt16(count: 9600 * 2, seed: 43)
        var config = CaptureConfiguration()
        config.realtime = false
        let session = try await CaptureSession.start(source: .stdin(format), configuration: config) {
            RawStreamDevice(descriptor: readEnd, format: format, periodMilliseconds: 20)
        }
        let data = bytes(samples)
        Thread.detachNewThread {
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {   // odd-sized writes split frames between reads
                    let n = write(writeEnd, raw.baseAddress! + offset, min(777, raw.count - offset))
                    if n <= 0 { break }
                    offset += n
                }
            }
            close(writeEnd)
        }
        let events = try await collect(session, samples: .max, seconds: 10)
        var mono: [Float] = []
        samples.map { Float($0) / 32768 }.withUnsafeBufferPointer { Downmix.toMono($0, channels: 2, into: &mono) }
        #expect(events.samples == (try Resampler.resample(mono, from: 48000, to: 16000)))
    }

    @Test func float32MonoPassesThrough() async throws {
        var fds: [Int32] = [0, 0]
        try makePipe(&fds)
        defer { close(fds[0]) }
        let format = StreamFormat(sampleFormat: .f32le, sampleRate: 16000, channels: 1)
        let values: [Float] = (0..<1000).map { Float($0) / 1000 - 0.5 }
        let readEnd = fds[0], writeEnd = fds[1]
        let session = try await CaptureSession.start(source: .stdin(format), configuration: CaptureConfiguration()) {
            RawStreamDevice(descriptor: readEnd, format: format, periodMilliseconds: 20)
        }
        values.withUnsafeBytes { _ = write(writeEnd, $0.baseAddress!, $0.count) }
        close(writeEnd)
        let events = try await collect(session, samples: .max, seconds: 10)
        #expect(events.samples == values)
    }
}
