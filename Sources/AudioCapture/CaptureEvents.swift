/// What a ``CaptureSession`` delivers, in order: audio and the events that explain gaps in it.
public enum CaptureEvent: Sendable, Equatable {
    /// Audio at 16 kHz mono (after downmix and resampling).
    case audio(AudioChunk)
    /// Audio was lost upstream (device overrun or suspend, device loss): the timeline skips `lostSamples`.
    case discontinuity(Discontinuity)
    /// The device went away (read error, unplugged, server gone). Capture keeps trying to reopen it.
    case deviceLost(DeviceLoss)
    /// The device is back, in this format; a ``Discontinuity`` with reason `.deviceLost` follows.
    case deviceRestored(StreamFormat)
    /// The consumer fell behind and the bounded queue dropped the oldest audio (newest wins).
    case dropped(QueueDrop)
}

/// A run of 16 kHz mono samples with its absolute place on the capture timeline.
public struct AudioChunk: Sendable, Equatable {
    /// Samples in [-1, 1), 16 kHz mono; (count,).
    public var samples: [Float]
    /// Index of `samples[0]` on the output timeline: sample 0 is the first sample captured after the session
    /// started; a gap (lost audio, dropped chunks) advances it without samples.
    public var firstSample: Int64
    public var flags: Flags

    /// One past the last sample: `firstSample + samples.count`.
    public var endSample: Int64 { firstSample + Int64(samples.count) }

    public init(samples: [Float], firstSample: Int64, flags: Flags = []) {
        self.samples = samples
        self.firstSample = firstSample
        self.flags = flags
    }

    /// What happened just before a chunk.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// The first chunk of the session, or the first after the device was reopened.
        public static let streamStart = Flags(rawValue: 1 << 0)
        /// Audio was lost upstream right before this chunk (a ``Discontinuity`` was delivered before it).
        public static let afterDiscontinuity = Flags(rawValue: 1 << 1)
        /// The queue dropped chunks right before this one (a ``QueueDrop`` was delivered before it).
        public static let afterDrop = Flags(rawValue: 1 << 2)
    }
}

/// Audio lost upstream of the queue.
public struct Discontinuity: Sendable, Equatable {
    public enum Reason: String, Sendable {
        /// ALSA overrun (-EPIPE): the device buffer filled before we read it; recovered with `snd_pcm_recover`.
        case overrun
        /// ALSA suspend (-ESTRPIPE): the system or device was suspended; recovered with `snd_pcm_recover`.
        case suspend
        /// The device went away and came back (``CaptureEvent/deviceLost(_:)``, then `deviceRestored`).
        case deviceLost
    }

    public var reason: Reason
    /// Output-timeline position where the gap begins (the end of the audio before it).
    public var at: Int64
    /// Samples at 16 kHz missing from the timeline; the next chunk starts at `at + lostSamples`.
    public var lostSamples: Int64
    /// The same loss in device frames (at the device's rate), as measured or estimated at the device.
    public var lostDeviceFrames: Int64

    public init(reason: Reason, at: Int64, lostSamples: Int64, lostDeviceFrames: Int64) {
        self.reason = reason
        self.at = at
        self.lostSamples = lostSamples
        self.lostDeviceFrames = lostDeviceFrames
    }
}

/// The device disappeared.
public struct DeviceLoss: Sendable, Equatable {
    /// Output-timeline position where the audio stops.
    public var at: Int64
    /// The error that showed it, e.g. "snd_pcm_readi: No such device (-19)".
    public var reason: String

    public init(at: Int64, reason: String) {
        self.at = at
        self.reason = reason
    }
}

/// Audio the queue threw away because the consumer was slow.
public struct QueueDrop: Sendable, Equatable {
    /// Chunks dropped.
    public var chunks: Int
    /// Samples in those chunks.
    public var samples: Int64
    /// `firstSample` of the first dropped chunk.
    public var firstSample: Int64
    /// Non-audio events dropped because too many piled up (rare: only a device flapping for a long time).
    public var events: Int

    public init(chunks: Int, samples: Int64, firstSample: Int64, events: Int = 0) {
        self.chunks = chunks
        self.samples = samples
        self.firstSample = firstSample
        self.events = events
    }
}

/// Counters over a session's life.
public struct CaptureStatistics: Sendable, Equatable {
    /// Samples delivered into the queue (16 kHz).
    public var samplesCaptured: Int64 = 0
    /// ALSA overruns recovered.
    public var overruns = 0
    /// ALSA suspends recovered.
    public var suspends = 0
    /// Times the device was lost, and restored.
    public var deviceLosses = 0
    public var deviceRestores = 0
    /// Samples missing from the timeline because of overruns, suspends and device loss.
    public var samplesLost: Int64 = 0
    /// Chunks and samples dropped by the queue (slow consumer).
    public var chunksDropped = 0
    public var samplesDropped: Int64 = 0

    public init() {}
}
