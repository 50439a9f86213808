/// Why the session layer refused a request. Each transport turns the reason into its own answer: the socket's error
/// code (``Reason/name`` is its name), gRPC's status code.
package struct SessionRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Reason: Sendable, Equatable, CaseIterable {
        /// No live stream of that name.
        case unknownStream
        /// The daemon serves `max-clients` already.
        case tooManyClients
        /// The client holds as many subscriptions as it may.
        case tooManySubscriptions
        /// The client holds as many pushed streams as it may.
        case tooManyPushes
        /// A speech option while voice activity is off.
        case voiceActivityOff
        /// A payload type not offered.
        case unsupportedPayload
        /// A sample rate, channel count, format or label refused.
        case badAudioFormat
        /// The daemon is stopping.
        case shuttingDown
        /// A failure inside the daemon.
        case internalError

        /// The protocol's name for it (docs/protocol.md, "Errors"), as refusals are counted in status.
        package var name: String {
            switch self {
            case .unknownStream: "unknown-stream"
            case .tooManyClients: "too-many-clients"
            case .tooManySubscriptions: "too-many-subscriptions"
            case .tooManyPushes: "too-many-pushed-streams"
            case .voiceActivityOff: "voice-activity-off"
            case .unsupportedPayload: "unsupported-payload"
            case .badAudioFormat: "bad-audio-format"
            case .shuttingDown: "shutting-down"
            case .internalError: "internal-error"
            }
        }
    }

    package var reason: Reason
    package var message: String

    package init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    package var description: String { message }
}
