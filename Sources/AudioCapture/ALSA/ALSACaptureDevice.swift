/// ALSA capture (`alsa:DEVICE`): waits with a timeout, reads one period, decodes it; faults go to
/// ``ALSAError/handleReadFault(_:_:stream:format:bufferFrames:sinceLastData:)``.
final class ALSACaptureDevice: CaptureDevice {
    let format: StreamFormat
    /// The PCM, or a test double that injects faults.
    private let stream: any PCMStream
    private let periodFrames: Int
    private let bufferFrames: Int
    private let stallTimeout: Duration?
    private let waitMilliseconds: Int32 = 200
    /// (periodFrames × frameBytes,) raw interleaved samples.
    private var raw: [UInt8]
    private var lastData = ContinuousClock.now

    init(stream: any PCMStream, configuration: PCMConfiguration, stallTimeout: Duration?) {
        self.stream = stream
        format = configuration.format
        periodFrames = configuration.periodFrames
        bufferFrames = configuration.bufferFrames
        self.stallTimeout = stallTimeout
        raw = [UInt8](repeating: 0, count: configuration.periodFrames * configuration.format.frameBytes)
    }

    /// Opens and configures `name` (see ``ALSAPCM/configure(sampleFormat:rate:channels:periodMilliseconds:)``).
    static func open(name: String, configuration: CaptureConfiguration) throws(DeviceFailure) -> ALSACaptureDevice {
        let pcm = try ALSAPCM(name: name, configuration: configuration.alsaConfiguration)
        let negotiated = try pcm.configure(
            sampleFormat: configuration.deviceSampleFormat, rate: configuration.deviceRate,
            channels: configuration.deviceChannels, periodMilliseconds: configuration.periodMilliseconds)
        return ALSACaptureDevice(stream: pcm, configuration: negotiated, stallTimeout: configuration.stallTimeout)
    }

    func read(into samples: inout [Float]) throws(DeviceFailure) -> DeviceRead {
        let ready = stream.wait(milliseconds: waitMilliseconds)
        if ready == 0 {
            if let stallTimeout, ContinuousClock.now - lastData >= stallTimeout {
                throw .lost("no data from the ALSA device for \(stallTimeout)")
            }
            return .frames(0)
        }
        if ready < 0 { return try fault(ready, "snd_pcm_wait") }
        let frames = raw.withUnsafeMutableBytes { stream.readInterleaved($0.baseAddress!, frames: periodFrames) }
        if frames < 0 { return try fault(Int32(frames), "snd_pcm_readi") }
        guard frames > 0 else { return .frames(0) }
        lastData = .now
        samples.removeAll(keepingCapacity: true)
        raw.withUnsafeBytes {
            format.sampleFormat.decode(UnsafeRawBufferPointer(rebasing: $0[..<(frames * format.frameBytes)]),
                                       appendingTo: &samples)
        }
        return .frames(frames)
    }

    private func fault(_ code: Int32, _ operation: String) throws(DeviceFailure) -> DeviceRead {
        let result = try ALSAError.handleReadFault(
            code, operation, stream: stream, format: format, bufferFrames: bufferFrames,
            sinceLastData: ContinuousClock.now - lastData)
        if case .gap = result { lastData = .now }
        return result
    }
}
