import AudioCapture
import EncodingScheduler
import Foundation
import Logging
import QueuePolicies
import ServiceLifecycle
import WireProtocol

/// Feeds one capture session into one live stream, for the life of a `ServiceGroup`. Capture runs on its own
/// thread (AudioCapture); this task moves chunks and events into the engine under the source's ``DeliveryPolicy``:
/// in real time it never waits (audio the encoder cannot keep is dropped and warned about, at most once per
/// `warningInterval`); under backpressure it waits for room in the stream's backlog, so capture waits, and a pipe's
/// writer with it: nothing is lost.
///
/// When the source ends (a file played out), the stream is finished: its tail is encoded under the end-of-clip rule
/// and subscribers get `ended`; the daemon keeps serving. On graceful shutdown capture stops and the stream is
/// finished the same way (bounded by `finishTimeout`).
struct LiveSourceService: Service {
    let events: any AsyncSequence<CaptureEvent, any Error> & Sendable
    let stopCapture: @Sendable () -> Void
    let stream: LiveStream
    let delivery: DeliveryPolicy
    let clock: any SchedulerClock
    let logger: Logger
    var finishTimeout: Duration = .milliseconds(500)
    var warningInterval: Duration = .seconds(10)

    init(session: CaptureSession, delivery: DeliveryPolicy, stream: LiveStream, clock: any SchedulerClock,
         logger: Logger) {
        self.init(events: session, stopCapture: { session.stop() }, delivery: delivery, stream: stream, clock: clock,
                  logger: logger)
    }

    /// Any sequence of capture events (tests feed their own).
    init(events: any AsyncSequence<CaptureEvent, any Error> & Sendable, stopCapture: @escaping @Sendable () -> Void,
         delivery: DeliveryPolicy, stream: LiveStream, clock: any SchedulerClock, logger: Logger) {
        self.events = events
        self.stopCapture = stopCapture
        self.delivery = delivery
        self.stream = stream
        self.clock = clock
        self.logger = logger
    }

    func run() async throws {
        stream.setState(.running)
        let stopCapture = self.stopCapture
        var warnings = LossWarnings(interval: warningInterval)
        do {
            try await withGracefulShutdownHandler {
                for try await event in events {
                    await handle(event, warnings: &warnings)
                }
            } onGracefulShutdown: {
                stopCapture()
            }
            logger.info("source ended", metadata: ["stream": "\(stream.name)", "source": "\(stream.source)"])
        } catch is CancellationError {
            stopCapture()
        } catch {
            logger.error("capture failed for good", metadata: ["stream": "\(stream.name)", "error": "\(error)"])
            stream.setState(.failed)
        }
        warn(warnings.flush())
        stream.finish()
        let deadline = ContinuousClock.now + finishTimeout
        while !stream.hasEnded && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // A source that ended on its own (a file played out, a device given up) waits for the daemon's stop:
        // a service that returns while the group is stopping another one fails the whole stop (ServiceLifecycle
        // cancels the rest and exits 1), and a file can end just as SIGTERM arrives.
        try? await gracefulShutdown()
    }

    private func handle(_ event: CaptureEvent, warnings: inout LossWarnings) async {
        let now = clock.monotonicNanoseconds()
        switch event {
        case .audio(let chunk):
            let dropped = await stream.submit(chunk.samples, firstSample: chunk.firstSample,
                                              wallNanoseconds: clock.wallNanoseconds(), delivery: delivery)
            warn(warnings.note(lost: Int64(dropped), reason: .encoderBehind, now: now))
        case .discontinuity(let d):
            logger.debug("audio lost upstream", metadata: ["stream": "\(stream.name)", "reason": "\(d.reason.rawValue)",
                                                          "at": "\(d.at)", "samples": "\(d.lostSamples)"])
            stream.report(.discontinuity, at: d.at, count: UInt64(max(0, d.lostSamples)), message: d.reason.rawValue)
            warn(warnings.note(lost: d.lostSamples, reason: .device, now: now))
        case .deviceLost(let loss):
            logger.warning("device lost", metadata: ["stream": "\(stream.name)", "reason": "\(loss.reason)"])
            stream.report(.deviceLost, at: loss.at, message: loss.reason)
        case .deviceRestored(let format):
            logger.notice("device restored", metadata: ["stream": "\(stream.name)", "format": "\(format)"])
            stream.report(.deviceRestored, at: 0, message: format.description)
        case .dropped(let drop):
            stream.report(.overrun, at: drop.firstSample, count: UInt64(max(0, drop.samples)),
                          message: "capture queue overflowed: audio discarded")
            warn(warnings.note(lost: drop.samples, reason: .capture, now: now))
        }
    }

    /// One warning line for audio this stream lost (seconds since the last line, and per reason).
    private func warn(_ summary: LossWarnings.Summary?) {
        guard let summary else { return }
        var metadata: Logger.Metadata = ["stream": "\(stream.name)"]
        for (key, value) in summary.fields { metadata[key] = "\(value)" }
        logger.warning("live audio lost", metadata: metadata)
    }
}
