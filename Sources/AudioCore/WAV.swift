/// The stream description of a WAV file.
public struct WAVInfo: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: Int
    public var sampleFormat: PCMSampleFormat
    /// Frames (one sample per channel) in the data chunk.
    public var frameCount: Int

    public init(sampleRate: Int, channels: Int, sampleFormat: PCMSampleFormat, frameCount: Int) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.sampleFormat = sampleFormat
        self.frameCount = frameCount
    }
}

/// Reads a RIFF/WAVE file incrementally: PCM 8/16/24/32-bit integer, IEEE float 32/64, plain or
/// WAVE_FORMAT_EXTENSIBLE. Samples come back interleaved as Float, integers scaled by 1/2^(bits-1).
///
/// Memory stays bounded at any file length: the header is parsed once, and each ``read(maxFrames:)`` reads and
/// decodes just the frames asked for.
///
/// A data chunk whose declared size runs past the end of the file (a recording that was cut off, or a file
/// that lost its end in a copy) is refused, naming the claimed and the actual size: encoding it would silently
/// give a shorter result than the header promises. The one exception is the size 0xFFFFFFFF, which streaming
/// writers put in a header written before the length was known: such a chunk is read to the end of the file.
public final class WAVReader {
    public let info: WAVInfo
    private let file: ReadableFile
    private let dataOffset: Int
    private var nextFrame = 0

    public convenience init(path: String) throws {
        try self.init(file: try ReadableFile(path: path))
    }

    /// Reads `file`; throws when it is not a PCM or float WAV file.
    package convenience init(file: ReadableFile) throws {
        switch try WAVReader.parseHeader(file) {
        case .samples(let info, let dataOffset):
            self.init(file: file, info: info, dataOffset: dataOffset)
        case .otherEncoding(let tag, let bits):
            throw AudioFileError(path: file.path,
                                 "unsupported WAV encoding (format tag \(tag), \(bits) bits per sample)")
        }
    }

    package init(file: ReadableFile, info: WAVInfo, dataOffset: Int) {
        self.file = file
        self.info = info
        self.dataOffset = dataOffset
    }

    /// Frames not yet read.
    public var remainingFrames: Int { info.frameCount - nextFrame }

    /// Reads up to `maxFrames` frames, interleaved. Returns an empty array at the end of the data.
    public func read(maxFrames: Int) throws -> [Float] {
        let frames = min(maxFrames, remainingFrames)
        guard frames > 0 else { return [] }
        let frameBytes = info.channels * info.sampleFormat.byteWidth
        let bytes = try file.read(at: dataOffset + nextFrame * frameBytes, count: frames * frameBytes)
        guard bytes.count == frames * frameBytes else {
            throw AudioFileError(path: file.path, "file shrank while reading the data chunk")
        }
        nextFrame += frames
        var samples: [Float] = []
        bytes.withUnsafeBytes { info.sampleFormat.decode($0, appendingTo: &samples) }
        return samples
    }

    // MARK: - Header

    /// The data size of a header written before the length was known (to a pipe, by a streaming writer).
    static let unknownDataSize = Int(UInt32.max)

    /// What a RIFF/WAVE header holds.
    package enum Header {
        /// PCM or float samples this reader decodes, starting at `dataOffset`.
        case samples(WAVInfo, dataOffset: Int)
        /// A well-formed header whose encoding this reader does not decode (A-law, ADPCM, …).
        case otherEncoding(tag: UInt16, bits: Int)
    }

    /// Parses `file`'s header; throws when it is not a RIFF/WAVE file or the header is broken.
    package static func parseHeader(_ file: ReadableFile) throws -> Header {
        func fail(_ reason: String) -> AudioFileError { AudioFileError(path: file.path, reason) }
        let riff = try file.read(at: 0, count: 12)
        guard riff.count == 12 else {
            throw fail(file.size == 0 ? "empty file, not a WAV file" : "too short to be a WAV file")
        }
        guard riff[0..<4] == [0x52, 0x49, 0x46, 0x46], riff[8..<12] == [0x57, 0x41, 0x56, 0x45] else {
            throw fail("not a WAV file (no RIFF/WAVE header)")
        }
        var offset = 12
        var format: (tag: UInt16, channels: Int, rate: Int, bits: Int, blockAlign: Int)?
        while offset + 8 <= file.size {
            let header = try file.read(at: offset, count: 8)
            let id = String(decoding: header[0..<4], as: UTF8.self)
            let size = Int(readUInt32(header, 4))
            let body = offset + 8
            switch id {
            case "fmt ":
                guard size >= 16 else { throw fail("fmt chunk too short (\(size) bytes)") }
                let fmt = try file.read(at: body, count: min(size, 40))
                guard fmt.count >= 16 else { throw fail("truncated fmt chunk") }
                var tag = readUInt16(fmt, 0)
                if tag == 0xFFFE {   // WAVE_FORMAT_EXTENSIBLE: the real tag is the sub-format GUID's first two bytes
                    guard fmt.count >= 26 else { throw fail("truncated WAVE_FORMAT_EXTENSIBLE fmt chunk") }
                    tag = readUInt16(fmt, 24)
                }
                format = (tag, Int(readUInt16(fmt, 2)), Int(readUInt32(fmt, 4)), Int(readUInt16(fmt, 14)),
                          Int(readUInt16(fmt, 12)))
            case "data":
                guard let format else { throw fail("data chunk comes before the fmt chunk") }
                let sampleFormat: PCMSampleFormat
                switch (format.tag, format.bits) {
                case (1, 8): sampleFormat = .u8
                case (1, 16): sampleFormat = .s16le
                case (1, 24): sampleFormat = .s24le
                case (1, 32): sampleFormat = .s32le
                case (3, 32): sampleFormat = .f32le
                case (3, 64): sampleFormat = .f64le
                default:
                    return .otherEncoding(tag: format.tag, bits: format.bits)
                }
                guard format.channels > 0 else { throw fail("WAV header declares 0 channels") }
                guard format.rate > 0 else { throw fail("WAV header declares a sample rate of 0") }
                let frameBytes = format.channels * sampleFormat.byteWidth
                guard format.blockAlign == frameBytes else {
                    throw fail("block align \(format.blockAlign) does not match \(format.channels) channels of "
                               + "\(format.bits) bits")
                }
                let present = file.size - body
                if size != Self.unknownDataSize && size > present {
                    throw fail("the data chunk claims \(size) bytes but the file holds \(present) after its header "
                               + "(\(file.size) bytes in all): the file is truncated")
                }
                let info = WAVInfo(sampleRate: format.rate, channels: format.channels,
                                   sampleFormat: sampleFormat, frameCount: min(size, present) / frameBytes)
                return .samples(info, dataOffset: body)
            default:
                break
            }
            offset = body + size + (size & 1)   // chunks are padded to an even size
        }
        throw fail(format == nil ? "no fmt chunk" : "no data chunk")
    }
}

/// Whole-file WAV reading and writing.
public enum WAV {
    /// Reads every frame of a WAV file, interleaved.
    public static func read(path: String) throws -> (info: WAVInfo, samples: [Float]) {
        let reader = try WAVReader(path: path)
        return (reader.info, try reader.read(maxFrames: reader.info.frameCount))
    }

    /// Writes interleaved samples as a WAV file. Integer formats round to nearest and saturate at full scale, NaN
    /// giving 0 (``PCMQuantization``); float formats store the samples as they are.
    public static func write(path: String, samples: [Float], sampleRate: Int, channels: Int,
                             format: PCMSampleFormat = .s16le) throws {
        guard channels > 0, samples.count % channels == 0 else {
            throw AudioFileError(path: path, "\(samples.count) samples do not divide into \(channels) channels")
        }
        let dataBytes = samples.count * format.byteWidth
        guard dataBytes <= Int(UInt32.max) - 36 else {
            throw AudioFileError(path: path, "too long for a WAV file (\(dataBytes) bytes of data)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(44 + dataBytes)
        bytes += Array("RIFF".utf8); appendUInt32(&bytes, UInt32(36 + dataBytes)); bytes += Array("WAVE".utf8)
        bytes += Array("fmt ".utf8); appendUInt32(&bytes, 16)
        appendUInt16(&bytes, format.isFloat ? 3 : 1)
        appendUInt16(&bytes, UInt16(channels))
        appendUInt32(&bytes, UInt32(sampleRate))
        appendUInt32(&bytes, UInt32(sampleRate * channels * format.byteWidth))
        appendUInt16(&bytes, UInt16(channels * format.byteWidth))
        appendUInt16(&bytes, UInt16(8 * format.byteWidth))
        bytes += Array("data".utf8); appendUInt32(&bytes, UInt32(dataBytes))
        format.encode(samples, appendingTo: &bytes)
        try writeFile(path: path, bytes: bytes)
    }
}

func readUInt16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
    UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
}

func readUInt32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
        | UInt32(bytes[offset + 3]) << 24
}

func appendUInt16(_ bytes: inout [UInt8], _ value: UInt16) {
    bytes.append(UInt8(value & 0xFF)); bytes.append(UInt8(value >> 8))
}

func appendUInt32(_ bytes: inout [UInt8], _ value: UInt32) {
    for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(value >> UInt32(shift) & 0xFF)) }
}
