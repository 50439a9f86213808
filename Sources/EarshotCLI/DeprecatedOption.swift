import ArgumentParser

/// An option renamed to the shared vocabulary (docs/protocol.md, "Vocabulary"): the old spelling stays accepted,
/// hidden from --help, so that scripts keep working, with a one-line notice on standard error.
enum DeprecatedOption {
    /// The value given under `current` or, with a notice, under `old`; `fallback` when neither was given.
    static func resolve<Value>(_ current: Value?, old: Value?, currentName: String, oldName: String,
                               command: String, fallback: Value) -> Value {
        guard let old else { return current ?? fallback }
        printError("\(command): \(oldName) is deprecated; use \(currentName)")
        return old
    }

    /// Both spellings of one option on one command line is a usage error.
    static func validate(_ current: (some Any)?, old: (some Any)?, currentName: String, oldName: String) throws {
        if current != nil, old != nil {
            throw ValidationError("\(oldName) is the old name of \(currentName): give only \(currentName)")
        }
    }
}
