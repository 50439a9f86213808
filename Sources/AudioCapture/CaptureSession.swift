import Foundation
import Resampling

/// Live audio from one source, as an async sequence of ``CaptureEvent``s at 16 kHz mono.
///
/// ```swift
/// let session = try await CaptureSession.start(try CaptureSource(spec: "alsa:default"))
/// for try await event in session {
///     if case .audio(let chunk) = event { feed(chunk.samples, at: chunk.firstSample) }
/// }
/// ```
/// The device is read on a dedicated thread (never the cooperative pool), which owns the device handle and the
/// resampler. Audio goes through a bounded queue (``QueuePolicy``) to one consumer. The sequence ends at the end
/// of a file or of standard input, or after ``stop()``; it throws a ``CaptureError`` if capture fails for good.
/// Dropping the last reference to the session stops it too.
public final class CaptureSession: AsyncSequence, Sendable {
    public typealias Element = CaptureEvent

    /// The source being captured.
    public let source: CaptureSource
    /// The device format negotiated at start (a reopened device may differ: see ``CaptureEvent/deviceRestored(_:)``).
    public let deviceFormat: StreamFormat
    private let channel: CaptureChannel

    private init(source: CaptureSource, deviceFormat: StreamFormat, channel: CaptureChannel) {
        self.source = source
        self.deviceFormat = deviceFormat
        self.channel = channel
    }

    deinit {
        channel.stop()
    }

    /// Opens `source` and starts capturing. Throws a ``CaptureError`` if the device cannot be opened.
    public static func start(_ source: CaptureSource, configuration: CaptureConfiguration = .init()) async throws
        -> CaptureSession
    {
        let opener = try DeviceFactory.opener(for: source, configuration: configuration)
        return try await start(source: source, configuration: configuration, opener: opener)
    }

    /// Checks, without starting a session, what can be checked before a long setup (the daemon runs it before the
    /// model loads): a `file:` source opens with the opener a session would use and its first period decodes, then
    /// it is closed; `stdin:` needs an open standard input. Devices (ALSA, PulseAudio) are opened only by ``start``.
    public static func check(_ source: CaptureSource, configuration: CaptureConfiguration = .init())
        throws(CaptureError)
    {
        switch source {
        case .file:
            var once = configuration
            once.realtime = false   // no pacing: the first period at once
            once.loop = false
            let opener = try DeviceFactory.opener(for: source, configuration: once)
            var samples: [Float] = []
            do throws(DeviceFailure) {
                _ = try opener().read(into: &samples)
            } catch {
                switch error {
                case .lost(let reason): throw CaptureError(.unavailable, reason)
                case .fatal(let error): throw error
                }
            }
        case .stdin:
            guard fcntl(0, F_GETFD) != -1 else { throw CaptureError(.unavailable, "standard input is closed") }
        case .alsa, .pulse:
            break
        }
    }

    /// Starts a session on any device: the seam tests use to inject faults.
    static func start(source: CaptureSource, configuration: CaptureConfiguration, opener: @escaping DeviceOpener)
        async throws -> CaptureSession
    {
        let channel = CaptureChannel(policy: configuration.queuePolicy(for: source))
        let format = try await withCheckedThrowingContinuation { (started: CheckedContinuation<StreamFormat, any Error>) in
            let thread = Thread {
                let worker = CaptureWorker(channel: channel, configuration: configuration, opener: opener)
                worker.run(started: started)
            }
            thread.name = "earshot-capture \(source)"
            thread.stackSize = 1 << 20
            thread.start()
        }
        return CaptureSession(source: source, deviceFormat: format, channel: channel)
    }

    /// Stops capture: the sequence ends (pending events are discarded) and the capture thread closes the device.
    public func stop() {
        channel.stop()
    }

    /// Counters so far: overruns, device losses, drops, samples.
    public var statistics: CaptureStatistics { channel.statistics }

    public func makeAsyncIterator() -> Iterator {
        Iterator(session: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        /// Keeps the session (and so the capture) alive while iterating.
        let session: CaptureSession

        /// The next event; nil at the end. Throws ``CaptureError``, or `CancellationError` if the task is cancelled.
        public mutating func next() async throws -> CaptureEvent? {
            try await session.channel.receive()
        }
    }
}

/// The body of the capture thread: owns the device and the resampler, keeps the output timeline.
///
/// Timeline: `segmentStart` is the output position of the current resampler's output frame 0. A segment ends at a
/// discontinuity (overrun, suspend, device loss): the resampler is flushed, the lost device frames are converted to
/// output samples (rounded), and a new segment starts after the gap, so positions stay true across faults.
final class CaptureWorker {
    private let channel: CaptureChannel
    private let configuration: CaptureConfiguration
    private let opener: DeviceOpener
    private var device: (any CaptureDevice)?
    private var resampler: Resampler?
    private var segmentStart: Int64 = 0
    private var nextFlags: AudioChunk.Flags = [.streamStart]
    /// When the last frames arrived: the start of a device-loss gap.
    private var lastDataTime = ContinuousClock.now
    /// (frames × channels,) interleaved device samples; (frames,) mono; resampled output.
    private var interleaved: [Float] = []
    private var mono: [Float] = []
    private var output: [Float] = []

    init(channel: CaptureChannel, configuration: CaptureConfiguration, opener: @escaping DeviceOpener) {
        self.channel = channel
        self.configuration = configuration
        self.opener = opener
    }

    /// Where the next output sample goes.
    private var outputEnd: Int64 { segmentStart + (resampler?.outputFramesProduced ?? 0) }

    func run(started: CheckedContinuation<StreamFormat, any Error>) {
        do throws(DeviceFailure) {
            let device = try opener()
            try startSegment(format: device.format)
            self.device = device
            started.resume(returning: device.format)
        } catch {
            switch error {
            case .lost(let reason): started.resume(throwing: CaptureError(.unavailable, reason))
            case .fatal(let error): started.resume(throwing: error)
            }
            return
        }
        lastDataTime = .now
        do {
            try captureLoop()
        } catch {
            // Deliver what the resampler still holds; the failure reported is the first one, whatever the flush does.
            do { try flush() } catch {}
            channel.finish(error: error)
        }
        device = nil   // frees the handle on this thread
    }

    private func captureLoop() throws(CaptureError) {
        while !channel.isStopped {
            guard let device else { return }
            let result: DeviceRead
            do throws(DeviceFailure) {
                result = try device.read(into: &interleaved)
            } catch {
                switch error {
                case .lost(let reason):
                    try reopen(after: reason)
                    continue
                case .fatal(let error):
                    throw error
                }
            }
            switch result {
            case .frames(let frames):
                guard frames > 0 else { continue }
                lastDataTime = .now
                try convert(interleaved, channels: device.format.channels)
            case .gap(let lostFrames, let reason):
                channel.updateStatistics {
                    if reason == .suspend { $0.suspends += 1 } else { $0.overruns += 1 }
                }
                try skip(lostDeviceFrames: lostFrames, reason: reason, format: device.format)
            case .end:
                try flush()
                channel.finish(error: nil)
                return
            }
        }
    }

    /// Downmixes, resamples and sends one read's worth of frames.
    private func convert(_ samples: [Float], channels: Int) throws(CaptureError) {
        mono.removeAll(keepingCapacity: true)
        samples.withUnsafeBufferPointer { Downmix.toMono($0, channels: channels, into: &mono) }
        output.removeAll(keepingCapacity: true)
        let first = outputEnd
        do {
            try mono.withUnsafeBufferPointer { try resampler?.process($0, into: &output) }
        } catch {
            throw CaptureError(.failed, "resampling failed: \(error)")
        }
        send(first: first)
    }

    private func send(first: Int64) {
        guard !output.isEmpty else { return }
        channel.send(.audio(AudioChunk(samples: output, firstSample: first, flags: nextFlags)))
        nextFlags = []
    }

    /// Flushes the resampler's pending output (the end of a segment).
    private func flush() throws(CaptureError) {
        guard let resampler, !resampler.isFinished else { return }
        output.removeAll(keepingCapacity: true)
        let first = outputEnd
        do {
            try resampler.finish(into: &output)
        } catch {
            throw CaptureError(.failed, "resampling failed: \(error)")
        }
        send(first: first)
    }

    private func startSegment(format: StreamFormat) throws(DeviceFailure) {
        do {
            resampler = try Resampler(inputRate: format.sampleRate, outputRate: configuration.outputRate,
                                      quality: configuration.quality)
        } catch {
            throw .fatal(CaptureError(.unavailable, "cannot resample \(format.sampleRate) Hz: \(error)"))
        }
    }

    /// Ends the segment at a gap of `lostDeviceFrames` and starts the next one after it.
    private func skip(lostDeviceFrames: Int64, reason: Discontinuity.Reason, format: StreamFormat)
        throws(CaptureError) {
        try flush()
        let end = outputEnd
        let consumed = resampler?.inputFramesConsumed ?? 0
        let rate = Int64(format.sampleRate), outRate = Int64(configuration.outputRate)
        // The next device frame sits at input position consumed + lost; round it onto the output grid.
        let next = segmentStart + ((consumed + max(0, lostDeviceFrames)) * outRate * 2 + rate) / (2 * rate)
        let newStart = max(end, next)
        channel.send(.discontinuity(Discontinuity(reason: reason, at: end, lostSamples: newStart - end,
                                                  lostDeviceFrames: lostDeviceFrames)))
        channel.updateStatistics { $0.samplesLost += newStart - end }
        segmentStart = newStart
        do {
            try resampler?.reset()
        } catch {
            throw CaptureError(.failed, "resampling failed: \(error)")
        }
        nextFlags.insert(.afterDiscontinuity)
    }

    /// The device is gone: report it, close it, reopen with backoff, report the return and the gap.
    private func reopen(after reason: String) throws(CaptureError) {
        try flush()
        let end = outputEnd
        let lostAt = lastDataTime
        channel.send(.deviceLost(DeviceLoss(at: end, reason: reason)))
        channel.updateStatistics { $0.deviceLosses += 1 }
        device = nil
        var delay = configuration.reconnectDelay
        var attempts = 0
        var lastReason = reason
        while true {
            if !sleep(delay) { return }   // stopped while waiting
            do throws(DeviceFailure) {
                let device = try opener()
                try startSegment(format: device.format)
                self.device = device
                break
            } catch {
                switch error {
                case .lost(let why): lastReason = why
                case .fatal(let error): lastReason = error.description
                }
            }
            attempts += 1
            if let limit = configuration.maxReconnectAttempts, attempts >= limit {
                throw CaptureError(.gaveUp, "device lost (\(reason)); \(attempts) reopen attempts failed, "
                                   + "the last with: \(lastReason)")
            }
            delay = min(delay * 2, configuration.maxReconnectDelay)
        }
        guard let device else { return }
        let now = ContinuousClock.now
        let gap = now - lostAt
        let lostSamples = Self.frames(in: gap, rate: configuration.outputRate)
        channel.send(.deviceRestored(device.format))
        channel.send(.discontinuity(Discontinuity(reason: .deviceLost, at: end, lostSamples: lostSamples,
                                                  lostDeviceFrames: Self.frames(in: gap, rate: device.format.sampleRate))))
        channel.updateStatistics {
            $0.deviceRestores += 1
            $0.samplesLost += lostSamples
        }
        segmentStart = end + lostSamples
        nextFlags = [.streamStart, .afterDiscontinuity]
        lastDataTime = now
    }

    /// Sleeps in slices of at most 50 ms; false if the session was stopped meanwhile.
    private func sleep(_ duration: Duration) -> Bool {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            if channel.isStopped { return false }
            let slice = min(deadline - ContinuousClock.now, .milliseconds(50))
            Thread.sleep(forTimeInterval: Self.seconds(slice))
        }
        return !channel.isStopped
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) * 1e-18
    }

    static func frames(in d: Duration, rate: Int) -> Int64 {
        Int64((seconds(d) * Double(rate)).rounded())
    }
}
