import CAlsa
import Foundation

/// ALSA return codes → Swift, and the read-fault policy. The one place where ALSA errors are interpreted.
enum ALSAError {
    /// E.g. "snd_pcm_readi: Broken pipe (-32)".
    static func describe(_ code: Int32, _ operation: String) -> String {
        let text = snd_strerror(code).map { String(cString: $0) } ?? "unknown error"
        return "\(operation): \(text) (\(code))"
    }

    /// Setup calls (open, hw_params): a negative code means the device cannot be used as asked.
    static func check(_ code: Int32, _ operation: String) throws(DeviceFailure) {
        guard code < 0 else { return }
        throw .lost(describe(code, operation))
    }

    /// What a negative code from `snd_pcm_wait` or `snd_pcm_readi` means for capture.
    enum ReadFault: Equatable {
        /// Interrupted or not ready: read again.
        case retry
        /// -EPIPE: overrun. Recover with `snd_pcm_recover`, report the loss.
        case overrun
        /// -ESTRPIPE: suspended. Recover with `snd_pcm_recover` (it resumes or re-prepares), report the loss.
        case suspended
        /// The device is gone: close and reopen.
        case lost
    }

    static func classify(_ code: Int32) -> ReadFault {
        switch -code {
        case EINTR, EAGAIN: .retry
        case EPIPE: .overrun
        case ESTRPIPE: .suspended
        default: .lost   // ENODEV, EBADFD, EIO, ENXIO, ENOTTY after unplug, and anything unexpected
        }
    }

    /// The policy for a failed wait or read on `stream`: retry, recover and report a gap, or give up on the
    /// device. `sinceLastData` is how long ago frames last arrived (for the suspend estimate).
    static func handleReadFault(
        _ code: Int32, _ operation: String, stream: any PCMStream, format: StreamFormat, bufferFrames: Int,
        sinceLastData: Duration
    ) throws(DeviceFailure) -> DeviceRead {
        switch classify(code) {
        case .retry:
            return .frames(0)
        case .overrun:
            // Measured from the status before recovery; the whole buffer is at least lost (prepare drops it).
            let lost = stream.overrunLoss(rate: format.sampleRate) ?? Int64(bufferFrames)
            let recovered = stream.recover(code)
            guard recovered >= 0 else { throw .lost(describe(recovered, "snd_pcm_recover after \(operation)")) }
            return .gap(lostFrames: lost, reason: .overrun)
        case .suspended:
            let start = ContinuousClock.now
            let recovered = stream.recover(code)
            guard recovered >= 0 else { throw .lost(describe(recovered, "snd_pcm_recover after \(operation)")) }
            let away = sinceLastData + (ContinuousClock.now - start)
            return .gap(lostFrames: CaptureWorker.frames(in: away, rate: format.sampleRate), reason: .suspend)
        case .lost:
            throw .lost(describe(code, operation))
        }
    }
}
