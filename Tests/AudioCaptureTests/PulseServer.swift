import Foundation
@testable import AudioCapture

/// A throwaway PulseAudio server for one test: its own directory, socket and pipe source, no hardware.
/// Started with `Process`, stopped by pid (TERM, then KILL after 5 s). See also ci/pulse.sh and recipes §4.
final class PulseServer: @unchecked Sendable {
    let directory: String
    let rate: Int
    let channels: Int
    private var process: Process?

    /// The server address for `CaptureConfiguration.pulseServer`.
    var server: String { "unix:\(directory)/native" }
    /// Write raw s16le frames here; the source `src` delivers them.
    var fifo: String { "\(directory)/src.fifo" }

    /// nil if the `pulseaudio` binary is missing.
    static var binary: String? {
        ["/usr/bin/pulseaudio", "/usr/local/bin/pulseaudio", "/bin/pulseaudio"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(rate: Int, channels: Int) throws {
        directory = try temporaryDirectory("pa")
        self.rate = rate
        self.channels = channels
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server and waits (at most 10 s) until it answers.
    func start() throws {
        guard let binary = Self.binary else { throw ServerError("pulseaudio is not installed") }
        let fm = FileManager.default
        for sub in ["run", "state", "config"] {
            try fm.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        chmod("\(directory)/run", 0o700)
        unlink("\(directory)/native")   // a socket left by a killed server
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "-n", "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1", "--disallow-exit",
            "--log-target=stderr", "--log-level=notice",
            "-L", "module-native-protocol-unix socket=\(directory)/native auth-anonymous=1",
            "-L", "module-null-sink sink_name=nullsink",
            "-L", "module-pipe-source source_name=src file=\(fifo) format=s16le rate=\(rate) channels=\(channels)",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_RUNTIME_DIR"] = "\(directory)/run"
        environment["PULSE_RUNTIME_PATH"] = "\(directory)/run"
        environment["PULSE_STATE_PATH"] = "\(directory)/state"
        environment["XDG_CONFIG_HOME"] = "\(directory)/config"
        environment["HOME"] = directory
        process.environment = environment
        let log = "\(directory)/pulseaudio.log"
        fm.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.seekToEnd()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline {
            guard process.isRunning else { throw ServerError("pulseaudio exited: \(self.log)") }
            if (try? PulseConnection(server: server, timeout: .milliseconds(500)).source(named: "src")) != nil {
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        stop()
        throw ServerError("pulseaudio did not answer within 10 s: \(self.log)")
    }

    /// Stops the server: SIGTERM (or SIGKILL with `kill: true`), then SIGKILL if it is still there after 5 s.
    func stop(kill hard: Bool = false) {
        guard let process, process.isRunning else { self.process = nil; return }
        let pid = process.processIdentifier
        Glibc.kill(pid, hard ? SIGKILL : SIGTERM)
        let deadline = Date(timeIntervalSinceNow: 5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { Glibc.kill(pid, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    var log: String { (try? String(contentsOfFile: "\(directory)/pulseaudio.log", encoding: .utf8)) ?? "" }

    struct ServerError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
