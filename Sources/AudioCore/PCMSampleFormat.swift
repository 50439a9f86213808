/// How interleaved PCM stores one sample: the one decoder and encoder behind WAV files, capture devices and
/// streams pushed over the wire. Multi-byte samples are little-endian. Integers are scaled by 1/2^(bits − 1), so
/// full scale is [−1, 1); `u8` (WAV's 8-bit) is unsigned with 128 as zero. Every decoded value is exact but for
/// `s32le` and `f64le`, which round once to the nearest binary32.
public enum PCMSampleFormat: String, Sendable, CaseIterable {
    case u8, s16le, s24le, s32le, f32le, f64le

    /// Bytes per sample.
    public var byteWidth: Int {
        switch self {
        case .u8: 1
        case .s16le: 2
        case .s24le: 3
        case .s32le, .f32le: 4
        case .f64le: 8
        }
    }

    /// True for IEEE 754 samples (stored as they are), false for integers (scaled and quantised).
    public var isFloat: Bool { self == .f32le || self == .f64le }

    /// Decodes the whole samples in `raw` (a trailing partial sample is ignored) and appends them to `output`.
    public func decode(_ raw: UnsafeRawBufferPointer, appendingTo output: inout [Float]) {
        let count = raw.count / byteWidth
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: count))
        output.withUnsafeMutableBufferPointer { all in
            let out = all.baseAddress! + start
            switch self {
            case .u8:
                for i in 0..<count { out[i] = (Float(raw[i]) - 128) * 0x1p-7 }
            case .s16le:
                for i in 0..<count {
                    out[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
                        * 0x1p-15
                }
            case .s24le:
                for i in 0..<count {
                    let b = 3 * i
                    // The three bytes into the top of an Int32, then an arithmetic shift back down extends the sign.
                    let value = Int32(bitPattern: UInt32(raw[b]) << 8 | UInt32(raw[b + 1]) << 16
                                      | UInt32(raw[b + 2]) << 24) >> 8
                    out[i] = Float(value) * 0x1p-23
                }
            case .s32le:
                for i in 0..<count {
                    out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                        * 0x1p-31
                }
            case .f32le:
                for i in 0..<count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i,
                                                                                      as: UInt32.self)))
                }
            case .f64le:
                for i in 0..<count {
                    out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i,
                                                                                             as: UInt64.self))))
                }
            }
        }
    }

    /// Appends `samples` in this format. Integer formats round to nearest and saturate at full scale, NaN giving 0
    /// (``PCMQuantization``); float formats store the values as they are (f64le widens exactly).
    public func encode(_ samples: some Sequence<Float>, appendingTo bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + samples.underestimatedCount * byteWidth)
        func append(_ value: UInt64, _ width: Int) {
            for byte in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * byte))) }
        }
        for sample in samples {
            switch self {
            case .u8: bytes.append(UInt8(PCMQuantization.quantize(sample, bits: 8) + 128))
            case .s16le: append(UInt64(UInt32(bitPattern: PCMQuantization.quantize(sample, bits: 16))), 2)
            case .s24le: append(UInt64(UInt32(bitPattern: PCMQuantization.quantize(sample, bits: 24))), 3)
            case .s32le: append(UInt64(UInt32(bitPattern: PCMQuantization.quantize(sample, bits: 32))), 4)
            case .f32le: append(UInt64(sample.bitPattern), 4)
            case .f64le: append(Double(sample).bitPattern, 8)
            }
        }
    }
}

/// The PCM streams Earshot accepts from outside (pushed audio over either transport, standard input): the rates
/// libsamplerate takes to 16 kHz and the channel counts downmixing averages. Written once for every door.
public enum PCMStreamLimits {
    public static let sampleRates = 1000...768_000
    public static let channels = 1...64
}
