/// A Silero VAD weight file that cannot be used: unreadable, or a tensor missing, misshapen or unexpected. The
/// description names the file and, where there is one, the tensor.
public struct SileroVADError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) { self.description = description }

    static func tensor(_ source: String, _ name: String, _ reason: String) -> SileroVADError {
        SileroVADError("\(source): tensor '\(name)': \(reason)")
    }
}
