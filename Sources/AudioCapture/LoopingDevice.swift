/// A file played again from its start each time it ends (`file:PATH?loop`), for demos and soak runs.
///
/// The copies follow each other on one timeline: no gap, no discontinuity, and the resampler runs on across the
/// seam, so the output is the capture of the file concatenated with itself. Each pass opens the file afresh (the
/// same opener a plain file source uses), so pacing restarts where the last pass ended.
final class LoopingDevice: CaptureDevice {
    let format: StreamFormat
    private let path: String
    private let open: DeviceOpener
    private var current: any CaptureDevice
    /// Frames the current pass has delivered: a pass with none ends the source instead of spinning.
    private var framesThisPass: Int64 = 0

    init(path: String, open: @escaping DeviceOpener) throws(DeviceFailure) {
        self.path = path
        self.open = open
        current = try open()
        format = current.format
    }

    func read(into samples: inout [Float]) throws(DeviceFailure) -> DeviceRead {
        let result = try current.read(into: &samples)
        switch result {
        case .frames(let frames):
            framesThisPass += Int64(frames)
            return result
        case .gap:
            return result
        case .end:
            guard framesThisPass > 0 else { return .end }
            let next = try open()
            guard next.format == format else {
                throw .fatal(CaptureError(.failed, "\(path): changed from \(format) to \(next.format) while looping"))
            }
            current = next
            framesThisPass = 0
            return .frames(0)
        }
    }
}
