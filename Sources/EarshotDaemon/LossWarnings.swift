import Foundation

/// Live audio a stream lost, turned into warnings a person can read: at most one line per `interval` per stream,
/// each saying how much was lost since the previous line and why. A plain value on a given clock (the caller passes
/// monotonic nanoseconds), so tests drive it with a virtual clock.
///
/// The first loss after a quiet interval is told at once; later losses within the interval are summed and told by
/// the first ``note(lost:reason:now:)`` or ``due(now:)`` after it ends, or by ``flush()`` when the stream stops.
struct LossWarnings {
    /// Why audio was lost, as the metric `earshot_audio_lost_seconds_total` labels it where it can.
    enum Reason: String, CaseIterable, Comparable {
        /// The live backlog overflowed: the encoder fell behind real time.
        case encoderBehind = "encoder_behind"
        /// The capture queue overflowed: the daemon did not take audio from capture in time.
        case capture
        /// The device itself lost audio (an ALSA overrun or suspend, a device that went away and came back).
        case device

        static func < (a: Reason, b: Reason) -> Bool { a.rawValue < b.rawValue }
    }

    /// One warning: 16 kHz samples lost per reason since the previous one.
    struct Summary: Equatable {
        var samples: [Reason: Int64]
        var total: Int64 { samples.values.reduce(0, +) }
        var seconds: Double { Double(total) / 16_000 }

        /// Log metadata: the total seconds and each reason's seconds, e.g. `encoder_behind=1.500`.
        var fields: [(String, String)] {
            [("seconds", Self.format(seconds))]
                + samples.keys.sorted().map { ($0.rawValue, Self.format(Double(samples[$0]!) / 16_000)) }
        }

        static func format(_ seconds: Double) -> String { String(format: "%.3f", seconds) }
    }

    let intervalNanoseconds: UInt64
    /// When the last line was told; nil before the first.
    private var lastTold: UInt64?
    private var pending: [Reason: Int64] = [:]

    init(interval: Duration = .seconds(10)) {
        let (seconds, attoseconds) = interval.components
        intervalNanoseconds = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Records `lost` samples at `now`; returns the line to log, if one is due.
    mutating func note(lost: Int64, reason: Reason, now: UInt64) -> Summary? {
        guard lost > 0 else { return due(now: now) }
        pending[reason, default: 0] += lost
        return due(now: now)
    }

    /// The summed line, if losses wait and the interval since the last line has passed.
    mutating func due(now: UInt64) -> Summary? {
        guard !pending.isEmpty else { return nil }
        if let lastTold, now &- lastTold < intervalNanoseconds { return nil }
        lastTold = now
        return flush()
    }

    /// Whatever waits, now (the stream stopped): nil if nothing does.
    mutating func flush() -> Summary? {
        guard !pending.isEmpty else { return nil }
        defer { pending = [:] }
        return Summary(samples: pending)
    }
}
