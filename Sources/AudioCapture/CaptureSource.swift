import AudioCore
import QueuePolicies

/// Where audio comes from. Parse a spec string with ``init(spec:)`` (or, with options, ``SourceSpec``).
///
/// | spec | source |
/// |---|---|
/// | `alsa:DEVICE` | ALSA PCM `DEVICE`: `alsa:default`, `alsa:hw:1,0`, `alsa:plughw:CARD=Mic,DEV=0` |
/// | `pulse:SOURCE`, `pulse:` | PulseAudio (or PipeWire's pulse server) source `SOURCE`, or the default source |
/// | `file:PATH` | an audio file (any format `AudioFileReader` reads), paced in real time unless ``CaptureConfiguration/realtime`` is false |
/// | `stdin:FORMAT:RATE:CHANNELS` | raw interleaved PCM on standard input, FORMAT a ``PCMSampleFormat`` (`s16le`, …) |
public enum CaptureSource: Sendable, Equatable, CustomStringConvertible {
    case alsa(device: String)
    /// nil: the server's default source.
    case pulse(source: String?)
    case file(path: String)
    case stdin(StreamFormat)

    /// Parses a source spec without options (see the table above; ``SourceSpec`` parses `?OPTIONS` too).
    public init(spec: String) throws(CaptureError) {
        guard let colon = spec.firstIndex(of: ":") else {
            throw CaptureError.badSpec(spec, "expected KIND:ARGUMENT with KIND alsa, pulse, file or stdin")
        }
        let kind = spec[..<colon].lowercased()
        let argument = String(spec[spec.index(after: colon)...])
        switch kind {
        case "alsa":
            guard !argument.isEmpty else { throw CaptureError.badSpec(spec, "alsa: needs a device, e.g. alsa:default") }
            self = .alsa(device: argument)
        case "pulse":
            self = .pulse(source: argument.isEmpty ? nil : argument)
        case "file":
            guard !argument.isEmpty else { throw CaptureError.badSpec(spec, "file: needs a path, e.g. file:speech.wav") }
            self = .file(path: argument)
        case "stdin":
            let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3 else {
                throw CaptureError.badSpec(spec, "expected stdin:FORMAT:RATE:CHANNELS, e.g. stdin:s16le:48000:2")
            }
            guard let format = PCMSampleFormat(rawValue: parts[0].lowercased()) else {
                throw CaptureError.badSpec(spec, "unknown sample format '\(parts[0])' (use "
                                           + PCMSampleFormat.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            let rates = PCMStreamLimits.sampleRates, counts = PCMStreamLimits.channels
            guard let rate = Int(parts[1]), rates.contains(rate) else {
                throw CaptureError.badSpec(spec, "sample rate '\(parts[1])' must be a whole number from "
                                           + "\(rates.lowerBound) to \(rates.upperBound)")
            }
            guard let channels = Int(parts[2]), counts.contains(channels) else {
                throw CaptureError.badSpec(spec, "channel count '\(parts[2])' must be from \(counts.lowerBound) to "
                                           + "\(counts.upperBound)")
            }
            self = .stdin(StreamFormat(sampleFormat: format, sampleRate: rate, channels: channels))
        default:
            throw CaptureError.badSpec(spec, "unknown source kind '\(kind)' (use alsa, pulse, file or stdin)")
        }
    }

    /// The spec string for this source.
    public var description: String {
        switch self {
        case .alsa(let device): "alsa:\(device)"
        case .pulse(let source): "pulse:\(source ?? "")"
        case .file(let path): "file:\(path)"
        case .stdin(let f): "stdin:\(f.sampleFormat.rawValue):\(f.sampleRate):\(f.channels)"
        }
    }
}

/// A source spec with its options: `KIND:ARGUMENT[?OPTION[,OPTION…]]`, what `--source` takes.
///
/// | option | for | effect |
/// |---|---|---|
/// | `loop` | `file:` | at the end, play the file again from the start, for ever, on one unbroken timeline |
/// | `fast` | `file:` | read as fast as the consumer takes it instead of in real time (so with backpressure) |
/// | `realtime` | `stdin:` | real-time delivery: never make the writer wait; drop the oldest audio when behind |
///
/// Options are read after the last `?` of a `file:` or `stdin:` spec (so a file path cannot contain `?`); ALSA and
/// PulseAudio names are taken verbatim. An unknown option is an error that names it.
public struct SourceSpec: Sendable, Equatable, CustomStringConvertible {
    public var source: CaptureSource
    /// `file:…?loop`: see ``CaptureConfiguration/loop``.
    public var loop = false
    /// `file:…?fast` gives false (not paced); nil keeps the configuration's ``CaptureConfiguration/realtime``.
    public var realtime: Bool?
    /// `stdin:…?realtime` gives ``DeliveryPolicy/realTime``; nil keeps the source's own.
    public var delivery: DeliveryPolicy?
    /// The spec as given.
    public let text: String

    /// Options each kind takes.
    static let options: [String: [String]] = ["file": ["loop", "fast"], "stdin": ["realtime"]]

    public init(_ spec: String) throws(CaptureError) {
        text = spec
        let kind = spec.firstIndex(of: ":").map { spec[..<$0].lowercased() } ?? ""
        guard let known = Self.options[kind], let mark = spec.lastIndex(of: "?") else {
            source = try CaptureSource(spec: spec)
            return
        }
        source = try CaptureSource(spec: String(spec[..<mark]))
        for option in spec[spec.index(after: mark)...].split(separator: ",", omittingEmptySubsequences: false) {
            switch (kind, option.lowercased()) {
            case ("file", "loop"): loop = true
            case ("file", "fast"): realtime = false
            case ("stdin", "realtime"): delivery = .realTime
            default:
                throw CaptureError.badSpec(spec, "unknown \(kind): option '\(option)' (use "
                                           + known.joined(separator: ", ") + "; a path cannot contain '?')")
            }
        }
    }

    /// Sets what the options say on `configuration`.
    public func apply(to configuration: inout CaptureConfiguration) {
        if loop { configuration.loop = true }
        if let realtime { configuration.realtime = realtime }
        if let delivery { configuration.delivery = delivery }
    }

    public var description: String { text }
}
