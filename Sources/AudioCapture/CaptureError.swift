/// Why capture could not start or had to stop.
///
/// Library error codes become these in one function per library (``ALSAError``, ``PulseError``); they never
/// log themselves.
public struct CaptureError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure, for callers that branch on it.
    public enum Kind: Sendable, Equatable {
        /// The source spec could not be parsed.
        case badSpec
        /// The device, server or file could not be opened (or configured).
        case unavailable
        /// The device went away and every reopen attempt failed (see ``CaptureConfiguration/maxReconnectAttempts``).
        case gaveUp
        /// Reading failed in a way that reopening cannot fix (a corrupt file, an unexpected library error).
        case failed
    }

    public let kind: Kind
    private let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func badSpec(_ spec: String, _ reason: String) -> CaptureError {
        CaptureError(.badSpec, "bad source spec '\(spec)': \(reason)")
    }
}

/// How a device read failed, as the capture thread needs to know it.
enum DeviceFailure: Error {
    /// The device is gone (unplugged, server restarted): close it and reopen with backoff.
    case lost(String)
    /// Anything else: stop capture with this error.
    case fatal(CaptureError)
}
