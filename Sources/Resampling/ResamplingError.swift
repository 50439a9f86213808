import CSampleRate

/// Why a ``Resampler`` could not be made or could not convert.
///
/// Every libsamplerate error code becomes one of these in ``ResamplingError/check(_:during:)``, and nowhere else.
public struct ResamplingError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable {
        /// A libsamplerate error: its code and `src_strerror` text.
        case library(code: Int32, message: String)
        case invalidRates(input: Int, output: Int)
        case finished
    }

    private let code: Code
    /// What the caller was doing, e.g. "src_process".
    private let operation: String

    private init(_ code: Code, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The libsamplerate error code, or nil for an error found in Swift.
    public var libraryCode: Int32? {
        if case .library(let code, _) = code { return code }
        return nil
    }

    public var description: String {
        switch code {
        case .library(let code, let message):
            return "\(operation): libsamplerate error \(code): \(message)"
        case .invalidRates(let input, let output):
            return "\(operation): cannot convert \(input) Hz to \(output) Hz "
                + "(rates must be positive and their ratio within libsamplerate's 1/256...256)"
        case .finished:
            return "\(operation): the resampler was finished; call reset() before feeding it again"
        }
    }

    static func invalidRates(input: Int, output: Int) -> ResamplingError {
        ResamplingError(.invalidRates(input: input, output: output), operation: "Resampler.init")
    }

    static func finished(during operation: String) -> ResamplingError {
        ResamplingError(.finished, operation: operation)
    }

    /// Turns a libsamplerate return code into a thrown error (0 means success).
    /// The one place where libsamplerate codes become Swift errors.
    static func check(_ result: Int32, during operation: String) throws(ResamplingError) {
        guard result != 0 else { return }
        let message = src_strerror(result).map { String(cString: $0) } ?? "unknown error"
        throw ResamplingError(.library(code: result, message: message), operation: operation)
    }
}
