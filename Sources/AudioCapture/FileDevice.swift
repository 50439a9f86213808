import AudioCore
import AudioFiles
import Foundation

/// An audio file as a device: `file:PATH` (any format ``AudioFileReader`` reads). Paced in real time (each period
/// is delivered when a microphone would have delivered it) or read as fast as the consumer takes it.
final class AudioFileDevice: CaptureDevice {
    let format: StreamFormat
    private let reader: AudioFileReader
    private let periodFrames: Int
    private let realtime: Bool
    private var started: ContinuousClock.Instant?
    private var delivered: Int64 = 0

    init(path: String, realtime: Bool, periodMilliseconds: Int) throws(DeviceFailure) {
        do {
            reader = try AudioFileReader(path: path)
        } catch let error as AudioFileError {
            throw .fatal(CaptureError(.unavailable, error.description))   // it names the path once
        } catch {
            throw .fatal(CaptureError(.unavailable, "\(path): \(error)"))
        }
        let info = reader.info
        format = StreamFormat(sampleFormat: info.sampleFormat, sampleRate: info.sampleRate, channels: info.channels)
        periodFrames = max(1, info.sampleRate * periodMilliseconds / 1000)
        self.realtime = realtime
    }

    func read(into samples: inout [Float]) throws(DeviceFailure) -> DeviceRead {
        let chunk: [Float]
        do {
            chunk = try reader.read(maxFrames: periodFrames)
        } catch {
            throw .fatal(CaptureError(.failed, "reading the audio file failed: \(error)"))
        }
        guard !chunk.isEmpty else { return .end }
        let frames = chunk.count / format.channels
        if realtime {
            let start = started ?? .now
            started = start
            // A microphone hands over a period once it has been recorded: at the end of that period.
            let due = start + .nanoseconds((delivered + Int64(frames)) * 1_000_000_000 / Int64(format.sampleRate))
            let wait = due - .now
            if wait > .zero { Thread.sleep(forTimeInterval: CaptureWorker.seconds(wait)) }
        }
        delivered += Int64(frames)
        samples = chunk
        return .frames(frames)
    }
}

/// Raw interleaved PCM from a file descriptor: `stdin:FORMAT:RATE:CHANNELS` (descriptor 0), or a pipe in tests.
/// Not paced: the writer sets the pace. Waits with `poll` so that `stop` is prompt; ends at end of file.
final class RawStreamDevice: CaptureDevice {
    let format: StreamFormat
    private let descriptor: Int32
    private let periodBytes: Int
    /// Bytes read but not yet a whole frame, kept for the next read.
    private var pending: [UInt8] = []
    private var buffer: [UInt8]

    init(descriptor: Int32, format: StreamFormat, periodMilliseconds: Int) {
        self.descriptor = descriptor
        self.format = format
        periodBytes = max(1, format.sampleRate * periodMilliseconds / 1000) * format.frameBytes
        buffer = [UInt8](repeating: 0, count: periodBytes)
    }

    func read(into samples: inout [Float]) throws(DeviceFailure) -> DeviceRead {
        var pollfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pollfd, 1, 200)
        if ready == 0 { return .frames(0) }
        if ready < 0 {
            if errno == EINTR { return .frames(0) }
            throw .fatal(CaptureError(.failed, "poll on descriptor \(descriptor): \(String(cString: strerror(errno)))"))
        }
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, periodBytes) }
        if count < 0 {
            if errno == EINTR || errno == EAGAIN { return .frames(0) }
            throw .fatal(CaptureError(.failed, "read on descriptor \(descriptor): \(String(cString: strerror(errno)))"))
        }
        if count == 0 { return .end }   // a trailing partial frame is dropped
        pending.append(contentsOf: buffer[0..<count])
        let frames = pending.count / format.frameBytes
        guard frames > 0 else { return .frames(0) }
        let bytes = frames * format.frameBytes
        samples.removeAll(keepingCapacity: true)
        pending.withUnsafeBytes {
            format.sampleFormat.decode(UnsafeRawBufferPointer(rebasing: $0[0..<bytes]), appendingTo: &samples)
        }
        pending.removeFirst(bytes)
        return .frames(frames)
    }
}
