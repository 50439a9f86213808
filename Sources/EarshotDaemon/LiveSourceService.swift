import AudioCapture
import EncodingScheduler
import Foundation
import Logging
import ServiceLifecycle
import WireProtocol

/// Feeds one capture session into one live stream, for the life of a `ServiceGroup`. Capture runs on its own
/// thread (AudioCapture); this task only moves chunks and events into the engine, which never waits.
///
/// When the source ends (a file played out), the stream is finished: its tail is encoded under the end-of-clip rule
/// and subscribers get `ended`; the daemon keeps serving. On graceful shutdown capture stops and the stream is
/// finished the same way (bounded by `finishTimeout`).
struct LiveSourceService: Service {
    let session: CaptureSession
    let stream: LiveStream
    let clock: any SchedulerClock
    let logger: Logger
    var finishTimeout: Duration = .milliseconds(500)

    func run() async throws {
        stream.setState(.running)
        let session = self.session
        do {
            try await withGracefulShutdownHandler {
                for try await event in session {
                    handle(event)
                }
            } onGracefulShutdown: {
                session.stop()
            }
            logger.info("source ended", metadata: ["stream": "\(stream.name)", "source": "\(stream.source)"])
        } catch is CancellationError {
            session.stop()
        } catch {
            logger.error("capture failed for good", metadata: ["stream": "\(stream.name)", "error": "\(error)"])
            stream.setState(.failed)
        }
        stream.finish()
        let deadline = ContinuousClock.now + finishTimeout
        while !stream.hasEnded && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func handle(_ event: CaptureEvent) {
        switch event {
        case .audio(let chunk):
            stream.submit(chunk.samples, firstSample: chunk.firstSample, wallNanoseconds: clock.wallNanoseconds())
        case .discontinuity(let d):
            logger.notice("audio lost upstream", metadata: [
                "stream": "\(stream.name)", "reason": "\(d.reason.rawValue)", "at": "\(d.at)", "samples": "\(d.lostSamples)"])
            stream.report(.discontinuity, at: d.at, count: UInt64(max(0, d.lostSamples)), message: d.reason.rawValue)
        case .deviceLost(let loss):
            logger.warning("device lost", metadata: ["stream": "\(stream.name)", "reason": "\(loss.reason)"])
            stream.report(.deviceLost, at: loss.at, message: loss.reason)
        case .deviceRestored(let format):
            logger.notice("device restored", metadata: ["stream": "\(stream.name)", "format": "\(format)"])
            stream.report(.deviceRestored, at: 0, message: format.description)
        case .dropped(let drop):
            logger.warning("capture queue dropped audio", metadata: [
                "stream": "\(stream.name)", "samples": "\(drop.samples)"])
            stream.report(.overrun, at: drop.firstSample, count: UInt64(max(0, drop.samples)),
                          message: "capture queue overflowed: audio discarded")
        }
    }
}
