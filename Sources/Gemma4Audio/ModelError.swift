/// A model that cannot be loaded or used: a bad config, a missing or misshapen weight, an unsupported setting.
/// The description names the file and, where there is one, the tensor or config field.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) { self.description = description }

    static func config(_ path: String, _ reason: String) -> ModelError { ModelError("\(path): \(reason)") }

    static func tensor(_ source: String, _ name: String, _ reason: String) -> ModelError {
        ModelError("\(source): tensor '\(name)': \(reason)")
    }
}
