import AudioCore
import CSndFile
import Synchronization

/// The stream description of an audio file.
public struct AudioFileInfo: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: Int
    /// Frames (one sample per channel) the file says it holds: exact for WAV, FLAC, AIFF, W64, RF64, CAF and a
    /// whole Ogg stream, an estimate for MP3; `nil` when the file does not say (an Ogg stream cut before its last
    /// page, FLAC written to a pipe).
    public var frameCount: Int?
    /// The narrowest ``PCMSampleFormat`` that holds the decoded samples exactly: the file's own for PCM; `f32le` for
    /// compressed audio, which is decoded to Float.
    public var sampleFormat: PCMSampleFormat
    /// What the file is, in words: e.g. "WAV, signed 16-bit PCM", "FLAC (Free Lossless Audio Codec), Signed 16 bit
    /// PCM".
    public var formatName: String

    public init(sampleRate: Int, channels: Int, frameCount: Int?, sampleFormat: PCMSampleFormat, formatName: String) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.frameCount = frameCount
        self.sampleFormat = sampleFormat
        self.formatName = formatName
    }
}

/// Reads an audio file in any format Earshot knows, a piece at a time: the one entry point for audio files.
/// Samples come back interleaved as Float, integers scaled by 1/2^(bits-1).
///
/// Two decoders sit behind it, and no caller knows which ran:
/// - **PCM and float WAV** (8/16/24/32-bit integer, 32/64-bit float, plain or extensible): AudioCore's own
///   ``WAVReader``, fuzzed, which refuses a data chunk that runs past the end of the file (naming both sizes) at
///   open, and reads a header written for a pipe (data size 0xFFFFFFFF) to the end. Today's samples, bit for bit.
/// - **Everything else libsndfile decodes**: WAV in its other encodings (A-law, µ-law, IMA/MS ADPCM, GSM 6.10, …),
///   FLAC, Ogg Vorbis, Opus (in Ogg), MP3, AIFF/AIFC, W64, RF64, CAF, AU, and the rest of libsndfile's list.
///   libsndfile reads through its virtual I/O (``SndFile``).
///
/// Why two: libsndfile quietly shortens a cut WAV to what is there where ``WAVReader`` refuses it, and WAVReader
/// is already fuzzed and exact; libsndfile brings every other format. The cut-file rule holds for both:
/// - a header that claims more bytes than the file holds (WAV in any encoding, AIFF, W64, RF64) is refused at open,
///   naming both sizes (libsndfile's header log keeps the claim: ``SndFileLog``);
/// - a stream that ends before the frame count its header states (FLAC; an Ogg stream whose last page survived a
///   damaged middle) is refused when reading reaches the end, naming both counts, as is a decoding error;
/// - Ogg Vorbis and Opus files cut short cannot be told from short files (an Ogg stream's length is in its last
///   page), nor can MP3 (its frame count is an estimate): they read to the last page or frame libsndfile decodes.
///
/// Formats libsndfile does not read (MP4/M4A, WebM, video, raw AAC) are refused naming what the file looks like
/// and how to convert it (``UnsupportedFormat``). `path` `-` is standard input, spooled to an unlinked temporary
/// file first (``StandardInput``). Memory stays bounded at any file length: each ``read(maxFrames:)`` decodes just
/// what it returns. The decoder sits behind a lock, so that a reader opened by one task can be read by another (a push
/// reads its file in a child task); reads are meant to come from one task at a time.
public final class AudioFileReader: Sendable {
    /// The file's stream description.
    public let info: AudioFileInfo
    /// The name errors give the file: its path, or "standard input".
    public let path: String
    private let state: Mutex<State>

    private enum Decoder {
        case wav(WAVReader)
        case libsndfile(SndFile)
    }

    private struct State {
        var decoder: Decoder
        var framesRead = 0
    }

    /// The formats errors list as readable.
    static let formatList =
        "WAV (PCM, float, A-law, µ-law, ADPCM), FLAC, Ogg Vorbis, Opus, MP3, AIFF, W64, RF64 and CAF"

    /// Opens the audio file at `path`, or standard input when `path` is `-`. Throws ``AudioFileError`` naming the
    /// file and the problem; a file without a single frame is refused ("no audio").
    public convenience init(path: String) throws {
        try self.init(source: path == "-" ? try StandardInput.spool() : try ReadableFile(path: path))
    }

    /// Opens `source`: a file through ``WAVReader`` when it is PCM or float WAV, else through libsndfile.
    package init(source: sending any ByteSource) throws {
        path = source.path
        guard source.size > 0 else { throw AudioFileError(path: path, "empty file, no audio") }
        if let file = source as? ReadableFile, try Self.isRIFFWave(file),
           case .samples(let wavInfo, let dataOffset) = try WAVReader.parseHeader(file) {
            state = Mutex(State(decoder: .wav(WAVReader(file: file, info: wavInfo, dataOffset: dataOffset))))
            info = AudioFileInfo(sampleRate: wavInfo.sampleRate, channels: wavInfo.channels,
                                 frameCount: wavInfo.frameCount, sampleFormat: wavInfo.sampleFormat,
                                 formatName: "WAV (\(wavInfo.sampleFormat.rawValue))")
        } else {
            let file = try SndFile(source)
            if let cut = SndFileLog.shortfall(in: file.log) {
                throw AudioFileError(path: path, "the \(cut.chunk) chunk claims \(cut.claimedBytes) bytes but the "
                                     + "file holds \(cut.presentBytes) (\(source.size) bytes in all): the file is "
                                     + "truncated")
            }
            let major = SndFile.formatName(file.majorFormat) ?? "format 0x\(String(file.majorFormat, radix: 16))"
            let sub = SndFile.formatName(file.subFormat).map { ", \($0)" } ?? ""
            info = AudioFileInfo(sampleRate: file.sampleRate, channels: file.channels, frameCount: file.frames,
                                 sampleFormat: Self.sampleFormat(file.subFormat), formatName: major + sub)
            state = Mutex(State(decoder: .libsndfile(file)))
        }
        if info.frameCount == 0 { throw AudioFileError(path: path, "no audio: the file holds no samples") }
    }

    /// Frames read so far.
    public var framesDelivered: Int { state.withLock { $0.framesRead } }

    /// Reads up to `maxFrames` frames, interleaved. Returns an empty array at the end of the audio.
    public func read(maxFrames: Int) throws -> [Float] {
        precondition(maxFrames > 0, "maxFrames must be positive")
        return try state.withLock { state in
            var samples: [Float]
            switch state.decoder {
            case .wav(let reader):
                samples = try reader.read(maxFrames: maxFrames)
            case .libsndfile(let file):
                samples = []
                samples.reserveCapacity(maxFrames * file.channels)
                _ = try file.read(maxFrames: maxFrames, appendingTo: &samples)
                if samples.isEmpty { try checkComplete(file, framesRead: state.framesRead) }
            }
            state.framesRead += samples.count / info.channels
            if samples.isEmpty && state.framesRead == 0 {
                throw AudioFileError(path: path, "no audio: the file holds no samples")
            }
            return samples
        }
    }

    /// At the end of the stream: refuses a lossless stream that ended before the frames its header promised.
    private func checkComplete(_ file: SndFile, framesRead: Int) throws {
        // MP3's frame count is estimated from the file size and bit rate: it promises nothing.
        guard file.majorFormat != Int32(SF_FORMAT_MPEG), let promised = file.frames, framesRead < promised else {
            return
        }
        throw AudioFileError(path: path, "the stream ended after \(framesRead) of the \(promised) frames its header "
                             + "promises: the file is truncated")
    }

    private static func isRIFFWave(_ file: ReadableFile) throws -> Bool {
        let head = try file.read(at: 0, count: 12)
        return head.count == 12 && head[0..<4].elementsEqual("RIFF".utf8) && head[8..<12].elementsEqual("WAVE".utf8)
    }

    /// The narrowest sample format that holds what libsndfile decodes for `subFormat` exactly.
    private static func sampleFormat(_ subFormat: Int32) -> PCMSampleFormat {
        switch subFormat {
        case Int32(SF_FORMAT_PCM_S8), Int32(SF_FORMAT_PCM_U8): .u8
        case Int32(SF_FORMAT_PCM_16), Int32(SF_FORMAT_ULAW), Int32(SF_FORMAT_ALAW): .s16le
        case Int32(SF_FORMAT_PCM_24): .s24le
        case Int32(SF_FORMAT_PCM_32): .s32le
        case Int32(SF_FORMAT_DOUBLE): .f64le
        default: .f32le
        }
    }
}

extension AudioFileReader {
    /// Reads every frame of an audio file, interleaved.
    public static func readAll(path: String) throws -> (info: AudioFileInfo, samples: [Float]) {
        let reader = try AudioFileReader(path: path)
        var samples: [Float] = []
        while case let piece = try reader.read(maxFrames: 1 << 16), !piece.isEmpty { samples += piece }
        return (reader.info, samples)
    }
}
