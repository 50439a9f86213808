import AudioCore
import QueuePolicies
import Resampling

/// How a ``CaptureSession`` treats its consumer.
public enum QueuePolicy: Sendable, Equatable {
    /// Keep at most `capacity` audio chunks; when full, drop the oldest and report a ``QueueDrop``.
    /// Capture never waits. The policy for live devices.
    case newestWins(capacity: Int)
    /// Keep at most `capacity` audio chunks; when full, the capture thread waits for the consumer.
    /// Nothing is lost. The policy for files read as fast as possible and for standard input (a pipe
    /// then applies backpressure to its writer).
    case backpressure(capacity: Int)

    var capacity: Int {
        switch self {
        case .newestWins(let c), .backpressure(let c): c
        }
    }
}

/// Settings for a ``CaptureSession``. Every field has a default that suits live capture.
public struct CaptureConfiguration: Sendable {
    /// Output rate of the chunks. Earshot's encoder wants 16000.
    public var outputRate = 16000
    /// Resampler quality when the device rate differs from ``outputRate``.
    public var quality: ResamplerQuality = .best
    /// For `file:` sources: true paces the file in real time, like a microphone; false reads it as fast as
    /// the consumer takes it (with ``QueuePolicy/backpressure(capacity:)`` unless ``queue`` says otherwise).
    public var realtime = true
    /// For `file:` sources: at the end, start again from the beginning, for ever (`file:PATH?loop`). The copies
    /// follow each other on one timeline with no gap and no discontinuity.
    public var loop = false
    /// nil: the source's own (``delivery(for:)``); `stdin:…?realtime` sets ``DeliveryPolicy/realTime``.
    public var delivery: DeliveryPolicy?
    /// nil: 50 chunks (1 s at 20 ms) under the source's ``delivery(for:)``: newest-wins in real time,
    /// backpressure otherwise.
    public var queue: QueuePolicy?
    /// How much audio one device read asks for, in milliseconds (ALSA period, PulseAudio fragment, file chunk).
    public var periodMilliseconds = 20

    /// ALSA and PulseAudio: ask the device for this sample format, rate or channel count instead of negotiating.
    /// ALSA fails to open if the device cannot do it; PulseAudio converts on the server.
    public var deviceSampleFormat: PCMSampleFormat?
    public var deviceRate: Int?
    public var deviceChannels: Int?

    /// ALSA: configuration text to open the PCM from (`snd_pcm_open_lconf`) instead of the system's alsa.conf.
    /// A card-less `file` PCM over a `null` slave makes a hermetic test device (see docs/capture.md).
    public var alsaConfiguration: String?
    /// ALSA: with no data at all for this long, the device counts as lost and is reopened; nil never does.
    /// (A real device always delivers; a stalled USB microphone sometimes just stops.)
    public var stallTimeout: Duration? = .seconds(2)
    /// PulseAudio server, e.g. "unix:/tmp/pa/native"; nil means `$PULSE_SERVER` or the default.
    public var pulseServer: String?
    /// PulseAudio and the server's format query: how long to wait for a server that does not answer.
    public var connectTimeout: Duration = .seconds(3)

    /// Reopening a lost device: the first wait, doubling up to `maxReconnectDelay`.
    public var reconnectDelay: Duration = .milliseconds(100)
    public var maxReconnectDelay: Duration = .seconds(2)
    /// nil: keep trying for ever; otherwise give up (the sequence throws) after this many failed reopen attempts.
    public var maxReconnectAttempts: Int?

    public init() {}

    /// How `source`'s audio is delivered when its consumer falls behind, chosen here once for capture and for
    /// whatever queues the audio meets later (the daemon's live backlog): ALSA, PulseAudio and files paced in real
    /// time are real time (what cannot be kept is dropped, oldest first, and reported); files read as fast as
    /// possible and standard input wait (a pipe's writer blocks; nothing is lost). ``delivery`` overrides it.
    public func delivery(for source: CaptureSource) -> DeliveryPolicy {
        if let delivery { return delivery }
        switch source {
        case .alsa, .pulse: return .realTime
        case .file: return realtime ? .realTime : .backpressure
        case .stdin: return .backpressure
        }
    }

    /// The capture queue's policy for `source`: ``queue`` if set, else 50 chunks under ``delivery(for:)``.
    func queuePolicy(for source: CaptureSource) -> QueuePolicy {
        if let queue { return queue }
        switch delivery(for: source) {
        case .realTime: return .newestWins(capacity: 50)
        case .backpressure: return .backpressure(capacity: 50)
        }
    }
}
