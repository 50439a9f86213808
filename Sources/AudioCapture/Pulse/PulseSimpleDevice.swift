import AudioCore
import CPulseSimple

/// PulseAudio capture (`pulse:SOURCE`, `pulse:`) with the simple API: the one owner of a `pa_simple*`,
/// freed in `deinit`.
///
/// The stream asks for the source's own sample spec (queried first with a deadline) so that the server neither
/// converts nor resamples; a fragment size of one period keeps latency low. `pa_simple_read` blocks until a
/// period has arrived; it cannot time out, so `stop` takes effect when the next period arrives or the
/// connection fails.
final class PulseSimpleDevice: CaptureDevice {
    let format: StreamFormat
    private let handle: OpaquePointer
    private let periodBytes: Int
    /// (periodBytes,) raw interleaved samples.
    private var raw: [UInt8]

    private init(handle: OpaquePointer, format: StreamFormat, periodBytes: Int) {
        self.handle = handle
        self.format = format
        self.periodBytes = periodBytes
        raw = [UInt8](repeating: 0, count: periodBytes)
    }

    deinit {
        pa_simple_free(handle)
    }

    /// Connects to `source` (nil: the default source) on `configuration.pulseServer`.
    static func open(source: String?, configuration: CaptureConfiguration) throws(DeviceFailure) -> PulseSimpleDevice {
        let server = configuration.pulseServer
        var sampleFormat = configuration.deviceSampleFormat
        var rate = configuration.deviceRate
        var channels = configuration.deviceChannels
        if sampleFormat == nil || rate == nil || channels == nil {
            let info = try PulseConnection(server: server, timeout: configuration.connectTimeout).source(named: source)
            sampleFormat = sampleFormat ?? info.format?.sampleFormat ?? .f32le
            rate = rate ?? info.rate
            channels = channels ?? info.channels
        }
        let format = StreamFormat(sampleFormat: sampleFormat!, sampleRate: rate!, channels: channels!)
        let periodFrames = max(1, format.sampleRate * configuration.periodMilliseconds / 1000)
        let periodBytes = periodFrames * format.frameBytes
        guard let paFormat = paFormat(format.sampleFormat) else {
            throw .fatal(CaptureError(.unavailable, "PulseAudio has no \(format.sampleFormat.rawValue) samples"))
        }
        var spec = pa_sample_spec(format: paFormat, rate: UInt32(format.sampleRate),
                                  channels: UInt8(format.channels))
        var attributes = pa_buffer_attr(maxlength: UInt32.max, tlength: UInt32.max, prebuf: UInt32.max,
                                        minreq: UInt32.max, fragsize: UInt32(periodBytes))
        var error: Int32 = 0
        guard let handle = pa_simple_new(server, "earshot", PA_STREAM_RECORD, source, "capture", &spec, nil,
                                         &attributes, &error) else {
            throw PulseError.failure(error, "pa_simple_new \(source ?? "(default source)")")
        }
        return PulseSimpleDevice(handle: handle, format: format, periodBytes: periodBytes)
    }

    /// PulseAudio's name for `format`; nil for f64le, which PulseAudio does not have.
    static func paFormat(_ format: PCMSampleFormat) -> pa_sample_format_t? {
        switch format {
        case .u8: PA_SAMPLE_U8
        case .s16le: PA_SAMPLE_S16LE
        case .s24le: PA_SAMPLE_S24LE
        case .s32le: PA_SAMPLE_S32LE
        case .f32le: PA_SAMPLE_FLOAT32LE
        case .f64le: nil
        }
    }

    func read(into samples: inout [Float]) throws(DeviceFailure) -> DeviceRead {
        var error: Int32 = 0
        let result = raw.withUnsafeMutableBytes { pa_simple_read(handle, $0.baseAddress, periodBytes, &error) }
        if result < 0 { throw PulseError.failure(error, "pa_simple_read") }
        let frames = periodBytes / format.frameBytes
        samples.removeAll(keepingCapacity: true)
        raw.withUnsafeBytes {
            format.sampleFormat.decode(UnsafeRawBufferPointer(rebasing: $0[..<(frames * format.frameBytes)]),
                                       appendingTo: &samples)
        }
        return .frames(frames)
    }
}
