/// What an `event` frame reports.
public enum EventKind: UInt8, Sendable, CaseIterable {
    /// The server fell behind real time on a live stream and discarded audio: `count` samples from `at`.
    case overrun = 1
    /// The stream's device went away at sample `at`; `message` says why. Capture keeps trying to reopen it.
    case deviceLost = 2
    /// The device is back; `message` is its format.
    case deviceRestored = 3
    /// This client read too slowly: the server dropped its `count` oldest frames of this stream, the first being
    /// token `at`.
    case lagged = 4
    /// Audio was lost upstream: `count` samples from sample `at`; `message` says why.
    case discontinuity = 5
    /// The stream ended (source finished, pushed stream ended, unsubscribed, server stopping): `count` is the
    /// number of tokens it produced; no more frames of it follow.
    case ended = 6
    /// Speech starts at sample `at` (silero-vad `VADIterator`'s `start`). Only to clients that asked for speech.
    case speechStart = 7
    /// Speech ends at sample `at` (`VADIterator`'s `end`, or the segment's end when it ends inside speech). Only to
    /// clients that asked for speech.
    case speechEnd = 8
}
