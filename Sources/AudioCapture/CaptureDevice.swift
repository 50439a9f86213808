/// What one blocking read of a device gave.
enum DeviceRead: Equatable {
    /// This many frames were decoded into the caller's buffer (interleaved Float). Zero: nothing yet (a timeout
    /// or an interrupted call); the capture thread checks for `stop` and reads again.
    case frames(Int)
    /// The device lost audio and recovered: `lostFrames` frames at the device rate are missing here.
    case gap(lostFrames: Int64, reason: Discontinuity.Reason)
    /// The source has no more audio (end of file, end of standard input).
    case end
}

/// A source of interleaved audio frames, read by the capture thread and only by it.
///
/// Implementations own their C handle and free it in `deinit`. A read should return within a few hundred
/// milliseconds so that `stop` is prompt (PulseAudio's `pa_simple_read` cannot time out; see docs/capture.md).
protocol CaptureDevice: AnyObject {
    /// The format the frames are in, fixed for the device's life.
    var format: StreamFormat { get }
    /// Blocks until frames are ready (or a short timeout), then replaces `samples` with them, interleaved.
    func read(into samples: inout [Float]) throws(DeviceFailure) -> DeviceRead
}

/// Opens a device. Called on the capture thread, at start and again to reopen a lost device.
/// Throws `.lost` when the device is not there (now), `.fatal` when it never will be.
typealias DeviceOpener = @Sendable () throws(DeviceFailure) -> any CaptureDevice
