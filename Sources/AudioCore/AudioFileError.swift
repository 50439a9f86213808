/// An audio or array file that cannot be read or written, with the path and the reason.
public struct AudioFileError: Error, CustomStringConvertible, Sendable {
    /// The file the error is about.
    public let path: String
    /// What is wrong with it, in words.
    public let reason: String

    public init(path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}
