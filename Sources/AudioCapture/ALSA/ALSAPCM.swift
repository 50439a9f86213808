import AudioCore
import CAlsa
import Foundation

/// The calls the ALSA capture policy makes on a PCM: the seam where tests inject faults such as -EPIPE.
/// Each returns ALSA's raw result (a count, or a negative errno).
protocol PCMStream: AnyObject {
    /// `snd_pcm_wait`: 1 when frames are ready, 0 on timeout, or a negative error.
    func wait(milliseconds: Int32) -> Int32
    /// `snd_pcm_readi`: frames read into `buffer`, or a negative error.
    func readInterleaved(_ buffer: UnsafeMutableRawPointer, frames: Int) -> Int
    /// `snd_pcm_recover(pcm, error, silent: 1)`: 0 when the stream is usable again.
    func recover(_ error: Int32) -> Int32
    /// After an overrun, before recovery: frames lost so far (the unread buffer plus the time since the xrun),
    /// from `snd_pcm_status`; nil if the status does not say.
    func overrunLoss(rate: Int) -> Int64?
}

/// What a capture PCM was configured to.
struct PCMConfiguration: Equatable {
    var format: StreamFormat
    var periodFrames: Int
    var bufferFrames: Int
}

/// The one owner of an ALSA capture `snd_pcm_t*` (and the configuration tree it was opened from), closed in
/// `deinit`. One shim per C call. Used by one thread.
final class ALSAPCM: PCMStream {
    private let handle: OpaquePointer
    /// The in-memory configuration for `snd_pcm_open_lconf`, if any; deleted after the PCM is closed.
    private let localConfiguration: OpaquePointer?
    let name: String

    /// Opens `name` for capture in blocking mode. With `configuration` text, the name is looked up in that text
    /// alone (`snd_pcm_open_lconf`), not in the system's alsa.conf.
    init(name: String, configuration text: String?) throws(DeviceFailure) {
        self.name = name
        var config: OpaquePointer?
        if let text {
            config = try Self.loadConfiguration(text)
        }
        var pcm: OpaquePointer?
        let result: Int32
        if let config {
            result = snd_pcm_open_lconf(&pcm, name, SND_PCM_STREAM_CAPTURE, 0, config)
        } else {
            result = snd_pcm_open(&pcm, name, SND_PCM_STREAM_CAPTURE, 0)
        }
        guard result >= 0, let pcm else {
            if let config { snd_config_delete(config) }
            throw .lost(ALSAError.describe(result, "snd_pcm_open \(name)"))
        }
        handle = pcm
        localConfiguration = config
    }

    deinit {
        snd_pcm_close(handle)
        if let localConfiguration { snd_config_delete(localConfiguration) }
    }

    /// Parses ALSA configuration text into a new top-level tree.
    private static func loadConfiguration(_ text: String) throws(DeviceFailure) -> OpaquePointer {
        var input: OpaquePointer?
        let opened = text.withCString { snd_input_buffer_open(&input, $0, text.utf8.count) }
        try ALSAError.check(opened, "snd_input_buffer_open")
        defer { snd_input_close(input) }
        var config: OpaquePointer?
        try ALSAError.check(snd_config_top(&config), "snd_config_top")
        let loaded = snd_config_load(config, input)
        if loaded < 0 {
            snd_config_delete(config)
            throw .fatal(CaptureError(.unavailable, ALSAError.describe(loaded, "snd_config_load (ALSA configuration text)")))
        }
        return config!
    }

    /// Negotiates hardware parameters: interleaved access; the requested format, rate and channels, or else
    /// the device's best: FLOAT, then S32, then S16; 16 kHz if the device does it natively, else its native rate
    /// nearest 48 kHz (ALSA's own resampling is switched off, so only native rates are offered); the fewest
    /// channels it has. Period about `periodMilliseconds`, buffer about ten periods (at least 200 ms).
    func configure(
        sampleFormat requestedFormat: PCMSampleFormat?, rate requestedRate: Int?, channels requestedChannels: Int?,
        periodMilliseconds: Int
    ) throws(DeviceFailure) -> PCMConfiguration {
        var params: OpaquePointer?
        try ALSAError.check(snd_pcm_hw_params_malloc(&params), "snd_pcm_hw_params_malloc")
        defer { snd_pcm_hw_params_free(params) }
        try ALSAError.check(snd_pcm_hw_params_any(handle, params), "snd_pcm_hw_params_any \(name)")
        try ALSAError.check(snd_pcm_hw_params_set_access(handle, params, SND_PCM_ACCESS_RW_INTERLEAVED),
                            "snd_pcm_hw_params_set_access RW_INTERLEAVED")
        // Only native rates; ignore failure (some plugins do not know the flag).
        _ = snd_pcm_hw_params_set_rate_resample(handle, params, 0)

        let candidates = requestedFormat.map { [$0] } ?? [.f32le, .s32le, .s16le]
        guard let sampleFormat = candidates.first(where: {
            snd_pcm_hw_params_test_format(handle, params, Self.alsaFormat($0)) == 0
        }) else {
            throw .lost("\(name) offers none of the sample formats "
                        + candidates.map(\.rawValue).joined(separator: ", "))
        }
        try ALSAError.check(snd_pcm_hw_params_set_format(handle, params, Self.alsaFormat(sampleFormat)),
                            "snd_pcm_hw_params_set_format")

        var channels: UInt32 = 0
        if let requestedChannels {
            channels = UInt32(requestedChannels)
        } else {
            try ALSAError.check(snd_pcm_hw_params_get_channels_min(params, &channels), "snd_pcm_hw_params_get_channels_min")
            channels = max(channels, 1)
        }
        try ALSAError.check(snd_pcm_hw_params_set_channels(handle, params, channels),
                            "snd_pcm_hw_params_set_channels \(channels)")

        var rate: UInt32
        if let requestedRate {
            rate = UInt32(requestedRate)
            try ALSAError.check(snd_pcm_hw_params_set_rate(handle, params, rate, 0), "snd_pcm_hw_params_set_rate \(rate)")
        } else if snd_pcm_hw_params_test_rate(handle, params, 16000, 0) == 0 {
            rate = 16000
            try ALSAError.check(snd_pcm_hw_params_set_rate(handle, params, rate, 0), "snd_pcm_hw_params_set_rate 16000")
        } else {
            rate = 48000
            var dir: Int32 = 0
            try ALSAError.check(snd_pcm_hw_params_set_rate_near(handle, params, &rate, &dir),
                                "snd_pcm_hw_params_set_rate_near 48000")
        }

        var periodTime = UInt32(periodMilliseconds * 1000)
        var bufferTime = max(periodTime * 10, 200_000)
        var dir: Int32 = 0
        try ALSAError.check(snd_pcm_hw_params_set_period_time_near(handle, params, &periodTime, &dir),
                            "snd_pcm_hw_params_set_period_time_near")
        dir = 0
        try ALSAError.check(snd_pcm_hw_params_set_buffer_time_near(handle, params, &bufferTime, &dir),
                            "snd_pcm_hw_params_set_buffer_time_near")
        try ALSAError.check(snd_pcm_hw_params(handle, params), "snd_pcm_hw_params \(name)")

        var periodFrames: snd_pcm_uframes_t = 0
        var bufferFrames: snd_pcm_uframes_t = 0
        dir = 0
        try ALSAError.check(snd_pcm_hw_params_get_period_size(params, &periodFrames, &dir), "snd_pcm_hw_params_get_period_size")
        try ALSAError.check(snd_pcm_hw_params_get_buffer_size(params, &bufferFrames), "snd_pcm_hw_params_get_buffer_size")
        return PCMConfiguration(
            format: StreamFormat(sampleFormat: sampleFormat, sampleRate: Int(rate), channels: Int(channels)),
            periodFrames: Int(periodFrames), bufferFrames: Int(bufferFrames))
    }

    static func alsaFormat(_ format: PCMSampleFormat) -> snd_pcm_format_t {
        switch format {
        case .u8: SND_PCM_FORMAT_U8
        case .s16le: SND_PCM_FORMAT_S16_LE
        case .s24le: SND_PCM_FORMAT_S24_3LE
        case .s32le: SND_PCM_FORMAT_S32_LE
        case .f32le: SND_PCM_FORMAT_FLOAT_LE
        case .f64le: SND_PCM_FORMAT_FLOAT64_LE
        }
    }

    // MARK: PCMStream (the corresponding C functions are named in the protocol)

    func wait(milliseconds: Int32) -> Int32 {
        snd_pcm_wait(handle, milliseconds)
    }

    func readInterleaved(_ buffer: UnsafeMutableRawPointer, frames: Int) -> Int {
        snd_pcm_readi(handle, buffer, snd_pcm_uframes_t(frames))
    }

    func recover(_ error: Int32) -> Int32 {
        snd_pcm_recover(handle, error, 1)
    }

    func overrunLoss(rate: Int) -> Int64? {
        var status: OpaquePointer?
        guard snd_pcm_status_malloc(&status) == 0 else { return nil }
        defer { snd_pcm_status_free(status) }
        guard snd_pcm_status(handle, status) == 0, snd_pcm_status_get_state(status) == SND_PCM_STATE_XRUN else {
            return nil
        }
        var trigger = snd_htimestamp_t()
        var now = snd_htimestamp_t()
        snd_pcm_status_get_trigger_htstamp(status, &trigger)
        snd_pcm_status_get_htstamp(status, &now)
        let unread = Int64(snd_pcm_status_get_avail_max(status))
        let since = Double(now.tv_sec - trigger.tv_sec) + Double(now.tv_nsec - trigger.tv_nsec) * 1e-9
        guard trigger.tv_sec > 0, since >= 0, since < 3600 else { return unread > 0 ? unread : nil }
        return unread + Int64((since * Double(rate)).rounded())
    }
}
