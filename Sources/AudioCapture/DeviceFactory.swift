/// Turns a ``CaptureSource`` into the function that opens (and reopens) its device.
enum DeviceFactory {
    static func opener(for source: CaptureSource, configuration: CaptureConfiguration) throws(CaptureError)
        -> DeviceOpener
    {
        guard configuration.periodMilliseconds > 0, configuration.outputRate > 0 else {
            throw CaptureError(.unavailable, "periodMilliseconds and outputRate must be positive")
        }
        switch source {
        case .alsa(let name):
            return { () throws(DeviceFailure) in try ALSACaptureDevice.open(name: name, configuration: configuration) }
        case .pulse(let name):
            return { () throws(DeviceFailure) in try PulseSimpleDevice.open(source: name, configuration: configuration) }
        case .file(let path):
            let open: DeviceOpener = { () throws(DeviceFailure) in
                try AudioFileDevice(path: path, realtime: configuration.realtime,
                                  periodMilliseconds: configuration.periodMilliseconds)
            }
            guard configuration.loop else { return open }
            return { () throws(DeviceFailure) in try LoopingDevice(path: path, open: open) }
        case .stdin(let format):
            return { () throws(DeviceFailure) in
                RawStreamDevice(descriptor: 0, format: format, periodMilliseconds: configuration.periodMilliseconds)
            }
        }
    }
}
