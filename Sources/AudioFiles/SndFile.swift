import AudioCore
import CSndFile
import Synchronization

/// An open libsndfile decoder: the one owner of a `SNDFILE*`, closed (`sf_close`) in `deinit`. libsndfile reads the
/// bytes through its virtual I/O (`sf_open_virtual`) from a ``ByteSource``, so a file on disk, a spooled standard
/// input and the fuzzer's buffer take the same path. Samples come back as Float, integers scaled by 1/2^(bits-1)
/// as ``WAVReader`` scales them (libsndfile's default normalisation).
final class SndFile {
    /// What `sf_open_virtual` reported.
    let sampleRate: Int
    let channels: Int
    /// The frame count libsndfile reports: from the header, or estimated (MP3); `nil` when unknown (`SF_COUNT_MAX`:
    /// an Ogg stream cut before its last page, a FLAC stream written to a pipe).
    let frames: Int?
    /// `SF_FORMAT_*` major and sub-format.
    let format: Int32
    private let handle: OpaquePointer
    /// Owned here: libsndfile's callbacks hold it unretained.
    private let io: VirtualFile

    /// libsndfile keeps the outcome of the last open, and of calls without a handle, in one process-wide variable
    /// (`sf_error(NULL)`): a successful open on another thread resets it to 0 ("No Error"). Those calls, and the read
    /// of that variable after a failed open, hold this lock, so a failed open reports its own reason.
    private static let processWideState = Mutex(())

    /// Opens `source`; throws ``AudioFileError`` with libsndfile's reason when libsndfile cannot read it.
    init(_ source: any ByteSource) throws {
        let io = VirtualFile(source)
        var info = SF_INFO()
        var callbacks = VirtualFile.callbacks
        // The handle crosses the lock as its address (an OpaquePointer is not Sendable).
        let opened: Result<Int, AudioFileError> = Self.processWideState.withLock { _ in
            guard let handle = sf_open_virtual(&callbacks, Int32(SFM_READ), &info,
                                               Unmanaged.passUnretained(io).toOpaque()) else {
                return .failure(SndFile.openError(source))
            }
            return .success(Int(bitPattern: handle))
        }
        switch opened {
        case .success(let address): handle = OpaquePointer(bitPattern: address)!
        case .failure(let error): throw io.error ?? error
        }
        self.io = io
        sampleRate = Int(info.samplerate)
        channels = Int(info.channels)
        frames = info.frames == Int64.max || info.frames < 0 ? nil : Int(info.frames)
        format = info.format
        guard channels > 0 else { throw AudioFileError(path: source.path, "the header declares 0 channels") }
        guard sampleRate > 0 else { throw AudioFileError(path: source.path, "the header declares a sample rate of 0") }
    }

    deinit { sf_close(handle) }

    var majorFormat: Int32 { format & Int32(SF_FORMAT_TYPEMASK) }
    var subFormat: Int32 { format & Int32(SF_FORMAT_SUBMASK) }

    /// Reads up to `maxFrames` frames into `samples` (interleaved, appended); returns the frames read, 0 at the
    /// end. The corresponding C function is `sf_readf_float`.
    func read(maxFrames: Int, appendingTo samples: inout [Float]) throws -> Int {
        let start = samples.count
        samples.append(contentsOf: repeatElement(0, count: maxFrames * channels))
        let got = samples.withUnsafeMutableBufferPointer { buffer in
            sf_readf_float(handle, buffer.baseAddress! + start, sf_count_t(maxFrames))
        }
        samples.removeLast((maxFrames - max(0, Int(got))) * channels)
        if let error = io.error { throw error }
        if got < maxFrames, sf_error(handle) != 0 {
            throw SndFile.error(handle, io.source.path, doing: "decoding failed")
        }
        return max(0, Int(got))
    }

    /// libsndfile's log of what it found in the header (`SFC_GET_LOG_INFO`): chunk sizes, warnings.
    var log: String {
        var buffer = [CChar](repeating: 0, count: 16_384)
        let length = sf_command(handle, Int32(SFC_GET_LOG_INFO), &buffer, Int32(buffer.count))
        return String(decoding: buffer[0..<max(0, min(Int(length), buffer.count))].map { UInt8(bitPattern: $0) },
                      as: UTF8.self)
    }

    /// The name libsndfile gives a major or sub-format, e.g. "FLAC (Free Lossless Audio Codec)", "Signed 16 bit PCM".
    static func formatName(_ format: Int32) -> String? {
        var info = SF_FORMAT_INFO()
        info.format = format
        let found = processWideState.withLock { _ in
            sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0
        }
        guard found, let name = info.name else { return nil }
        return String(cString: name)
    }

    /// The one conversion of libsndfile's error state (`sf_error`, `sf_strerror`) into an ``AudioFileError``: the
    /// file, what was being done, and libsndfile's words.
    static func error(_ handle: OpaquePointer?, _ path: String, doing: String) -> AudioFileError {
        let code = sf_error(handle)
        let message = String(cString: sf_strerror(handle)).trimmingSuffix(".")
        return AudioFileError(path: path, "\(doing): \(message) (libsndfile error \(code))")
    }

    /// Why `sf_open_virtual` refused `source` (called with ``processWideState`` held, right after the failed open).
    /// Where libsndfile does not know the format or its encoding, the file's first bytes name what it is when they
    /// can (MP4/M4A, WebM, …), and the error says how to convert it.
    private static func openError(_ source: any ByteSource) -> AudioFileError {
        let code = sf_error(nil)
        guard code == Int32(SF_ERR_UNRECOGNISED_FORMAT) || code == Int32(SF_ERR_UNSUPPORTED_ENCODING) else {
            return error(nil, source.path, doing: "cannot decode")
        }
        let what = UnsupportedFormat.identify(source)
            ?? (code == Int32(SF_ERR_UNRECOGNISED_FORMAT) ? "not an audio format libsndfile recognises"
                : "an encoding libsndfile cannot decode")
        return AudioFileError(path: source.path, "\(what); Earshot reads \(AudioFileReader.formatList). "
                              + "Convert it first, e.g. `\(UnsupportedFormat.conversionExample)`")
    }
}

/// The state behind libsndfile's virtual I/O callbacks: the bytes and a read position. A read error is kept here
/// (libsndfile only sees a short read) and thrown by the caller.
private final class VirtualFile {
    let source: any ByteSource
    var position = 0
    var error: (any Error)?

    init(_ source: any ByteSource) { self.source = source }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> VirtualFile {
        Unmanaged<VirtualFile>.fromOpaque(pointer!).takeUnretainedValue()
    }

    static let callbacks = SF_VIRTUAL_IO(
        get_filelen: { user in sf_count_t(VirtualFile.from(user).source.size) },
        seek: { offset, whence, user in
            let file = VirtualFile.from(user)
            let base = switch whence {
            case SEEK_CUR: file.position
            case SEEK_END: file.source.size
            default: 0
            }
            let target = base + Int(offset)
            guard target >= 0 else { return -1 }
            file.position = target
            return sf_count_t(target)
        },
        read: { pointer, count, user in
            let file = VirtualFile.from(user)
            guard let pointer, count > 0, file.error == nil else { return 0 }
            do {
                let n = try file.source.read(at: file.position,
                                             into: UnsafeMutableRawBufferPointer(start: pointer, count: Int(count)))
                file.position += n
                return sf_count_t(n)
            } catch {
                file.error = error
                return 0
            }
        },
        write: { _, _, _ in 0 },
        tell: { user in sf_count_t(VirtualFile.from(user).position) })
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
