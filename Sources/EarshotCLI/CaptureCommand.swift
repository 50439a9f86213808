import ArgumentParser
import AudioCapture
import AudioCore
import Foundation
import Resampling

/// `earshot capture`: record a source to a 16 kHz mono WAV file, through the same capture path the daemon uses.
public struct CaptureCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Record a source to a 16 kHz mono WAV file (downmixed and resampled like the daemon's input).",
        discussion: """
            Sources (--source):
              alsa:DEVICE        ALSA PCM: alsa:default, alsa:hw:1,0, alsa:plughw:1,0
              pulse:[SOURCE]     PulseAudio/PipeWire source; pulse: is the default one
              file:PATH          audio file, paced in real time (--fast or file:PATH?fast: no pacing;
                                 file:PATH?loop: play it again and again, until --seconds)
              stdin:FMT:RATE:CH  raw PCM on standard input; FMT s16le, s32le, f32le, u8, s24le, f64le
            Run `earshot devices` to see what ALSA and PulseAudio offer.

            The file's sample k is capture-timeline sample k: audio lost on the way (an overrun, a device that went \
            away and came back) is written as silence, and each loss is reported on standard error. Recording stops \
            after --seconds of timeline, at the end of a file or of standard input, or on Ctrl-C (the file is \
            written then too).
            """)

    public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
        case int16, float32
    }

    @Option(help: "What to record: alsa:DEVICE, pulse:[SOURCE], file:PATH or stdin:FMT:RATE:CHANNELS.")
    var source: String

    @Option(help: "Seconds to record (default: until the source ends or Ctrl-C).")
    var seconds: Double?

    @Option(help: "The WAV file to write (16 kHz, mono).")
    var output: String

    @Option(name: .customLong("sample-format"), help: "WAV sample format: int16 (rounded, saturating) or float32 (exact).")
    var sampleFormat: OutputFormat = .int16

    @Option(help: "Resampler when the device is not at 16 kHz: best, medium, fastest, linear or zeroOrderHold.")
    var quality: String = ResamplerQuality.best.rawValue

    @Flag(help: "file: sources only: read as fast as possible instead of in real time.")
    var fast = false

    @Flag(help: ArgumentHelp(
        "Let capture wait for this command instead of dropping the oldest audio when it falls behind.",
        discussion: "For unpaced sources such as ALSA's card-less file plugin; a real device overruns instead."))
    var backpressure = false

    @Option(help: "PulseAudio server, e.g. unix:/run/user/1000/pulse/native (default: $PULSE_SERVER or the usual one).")
    var server: String?

    @Option(name: .customLong("alsa-config"),
            help: "Open the ALSA device from this configuration file alone (snd_pcm_open_lconf), not alsa.conf.")
    var alsaConfig: String?

    @Option(name: .customLong("device-format"), help: "ALSA/PulseAudio: ask the device for this sample format: s16le, s32le, f32le, u8, s24le (or f64le, ALSA only).")
    var deviceFormat: String?

    @Option(name: .customLong("device-rate"), help: "ALSA/PulseAudio: ask the device for this sample rate.")
    var deviceRate: Int?

    @Option(name: .customLong("device-channels"), help: "ALSA/PulseAudio: ask the device for this many channels.")
    var deviceChannels: Int?

    @Option(name: .customLong("period-ms"), help: "Milliseconds per device read.")
    var periodMilliseconds = 20

    public init() {}

    public mutating func validate() throws {
        if let seconds, !(seconds > 0) { throw ValidationError("--seconds must be positive") }
        if ResamplerQuality(rawValue: quality) == nil {
            throw ValidationError("--quality must be one of \(ResamplerQuality.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let deviceFormat, PCMSampleFormat(rawValue: deviceFormat) == nil {
            let names = PCMSampleFormat.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--device-format must be one of \(names)")
        }
        if !(1...1000).contains(periodMilliseconds) { throw ValidationError("--period-ms must be from 1 to 1000") }
    }

    public func run() async throws {
        let spec = try CommandLineErrors.reporting { try SourceSpec(source) }
        let captureSource = spec.source
        try CommandLineErrors.reporting { try OutputPath.checkWritable(output) }   // before recording, not after
        var config = CaptureConfiguration()
        config.quality = ResamplerQuality(rawValue: quality) ?? .best
        config.realtime = !fast
        config.pulseServer = server
        config.deviceSampleFormat = deviceFormat.flatMap(PCMSampleFormat.init(rawValue:))
        config.deviceRate = deviceRate
        config.deviceChannels = deviceChannels
        config.periodMilliseconds = periodMilliseconds
        spec.apply(to: &config)
        if backpressure { config.queue = .backpressure(capacity: 50) }
        if let alsaConfig {
            config.alsaConfiguration = try CommandLineErrors.reporting {
                try String(contentsOfFile: alsaConfig, encoding: .utf8)
            }
        }
        let session: CaptureSession
        do {
            session = try await CaptureSession.start(captureSource, configuration: config)
        } catch {
            printError("earshot capture: \(error)")
            throw ExitCode.failure
        }
        printError("earshot capture: recording \(captureSource) (\(session.deviceFormat)) to \(output)")

        let rate = config.outputRate
        let limit = seconds.map { Int64(($0 * Double(rate)).rounded()) }
        let interrupt = Interrupt { session.stop() }
        defer { interrupt.cancel() }
        var recording = Recording(limit: limit)
        var failure: (any Error)?
        do {
            for try await event in session {
                if recording.take(event, rate: rate) { break }
            }
        } catch {
            failure = error
        }
        session.stop()

        let format: PCMSampleFormat = sampleFormat == .int16 ? .s16le : .f32le
        try CommandLineErrors.reporting {
            try WAV.write(path: output, samples: recording.samples, sampleRate: rate, channels: 1, format: format)
        }
        let stats = session.statistics
        let duration = String(format: "%.3f", Double(recording.samples.count) / Double(rate))
        printError("earshot capture: wrote \(output): \(recording.samples.count) samples (\(duration) s) at \(rate) Hz "
                   + "mono \(sampleFormat.rawValue); overruns \(stats.overruns), suspends \(stats.suspends), "
                   + "device losses \(stats.deviceLosses), samples lost \(stats.samplesLost), "
                   + "chunks dropped \(stats.chunksDropped)")
        if let failure {
            printError("earshot capture: \(failure)")
            throw ExitCode.failure
        }
    }
}

/// The samples of a capture laid on the timeline: sample k of `samples` is timeline position k.
struct Recording {
    let limit: Int64?
    private(set) var samples: [Float] = []

    /// Adds `event`; true once the limit is reached.
    mutating func take(_ event: CaptureEvent, rate: Int) -> Bool {
        switch event {
        case .audio(let chunk):
            place(chunk.samples, at: chunk.firstSample)
        case .discontinuity(let gap):
            printError("earshot capture: \(gap.reason.rawValue) at \(Self.time(gap.at, rate)): "
                       + "\(gap.lostSamples) samples (\(Self.time(gap.lostSamples, rate))) lost, written as silence")
        case .deviceLost(let loss):
            printError("earshot capture: device lost at \(Self.time(loss.at, rate)): \(loss.reason); reopening")
        case .deviceRestored(let format):
            printError("earshot capture: device back (\(format))")
        case .dropped(let drop):
            printError("earshot capture: too slow, \(drop.samples) samples dropped at \(Self.time(drop.firstSample, rate))")
        }
        guard let limit else { return false }
        if samples.count >= limit {
            samples.removeLast(samples.count - Int(limit))
            return true
        }
        return false
    }

    /// Writes `chunk` at `first`, filling any gap before it with zeros.
    private mutating func place(_ chunk: [Float], at first: Int64) {
        guard first >= 0 else { return }
        if first > samples.count {
            samples.append(contentsOf: repeatElement(0, count: Int(first) - samples.count))
        }
        let overlap = samples.count - Int(first)   // never expected; keep the earlier samples
        samples.append(contentsOf: chunk.dropFirst(max(0, overlap)))
    }

    static func time(_ sample: Int64, _ rate: Int) -> String {
        String(format: "%.3f s", Double(sample) / Double(rate))
    }
}

/// Calls `action` on SIGINT or SIGTERM until cancelled.
final class Interrupt: @unchecked Sendable {   // immutable after init; DispatchSource is thread-safe
    private let sources: [any DispatchSourceSignal]

    init(_ action: @escaping @Sendable () -> Void) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler(handler: action)
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
