import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// Turns any error into one line on standard error and a failing exit code.
enum CommandLineErrors {
    static func reporting<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("earshot: \(error)")
            throw ExitCode.failure
        }
    }
}

/// Writes a line to standard error (file descriptor 2; libc's `stderr` global is not concurrency-safe in Swift 6).
func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
