import AudioCore
import Foundation

/// The committed fixtures the formats are made from.
enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
        + "/Fixtures/cases"
    /// 16 kHz mono int16, 3 s of espeak-ng speech.
    static let speech = "\(root)/speech/input.wav"
    /// 44.1 kHz stereo int16.
    static let stereo44k = "\(root)/stereo44k/input.wav"
    /// 16 kHz mono 24-bit.
    static let long24bit = "\(root)/long24bit/input.wav"
}

/// A scratch directory of its own, removed at deinit.
final class Scratch {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "earshot-audiofiles-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
        return file(name)
    }
}

/// The independent tools the tests make and decode files with (scripts/install-deps.sh installs them).
enum Tool {
    /// Whether `name` is on the PATH.
    static func available(_ name: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    static func allAvailable(_ names: [String]) -> Bool { names.allSatisfy(available) }

    /// Runs `name` with `arguments`; throws with its standard error when it fails.
    static func run(_ name: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [name] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolFailure(description: "\(name) \(arguments.joined(separator: " ")) failed: "
                              + String(decoding: message, as: UTF8.self))
        }
    }

    struct ToolFailure: Error, CustomStringConvertible { let description: String }
}

/// The first `count` bytes of the file at `path`.
func prefix(of path: String, fraction: Double) throws -> [UInt8] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    return Array(bytes[0..<Int(Double(bytes.count) * fraction)])
}
