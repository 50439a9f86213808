import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Paths of the package, its fixtures and its built executables.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let fixtures = "\(root)/Tests/Fixtures"
    static func model(_ name: String = "tiny-f32") -> String { "\(fixtures)/models/\(name)" }
    static func wav(_ name: String) -> String { "\(fixtures)/cases/\(name)/input.wav" }

    /// The directory of the built products: the test bundle's own directory.
    static var products: String {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        if directory.lastPathComponent == "Linux" || directory.pathExtension == "xctest" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.path
    }

    /// A built executable (`earshotd`, `earshot`).
    static func executable(_ name: String) -> String {
        let candidates = [products] + [".build-daemon", ".build"].flatMap {
            ["\(root)/\($0)/debug", "\(root)/\($0)/release"]
        }
        for directory in candidates where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return "\(products)/\(name)"
    }
}

/// A scratch directory, removed at deinit. Short (Unix socket paths are limited to 107 bytes).
final class ScratchDirectory: Sendable {
    let path: String

    init() {
        var template = Array("/tmp/earshot-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A child process (earshotd, python3 …) with its output in a log file. Killed at deinit if still running.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let logPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`. `environment` adds to (or, with nil values, removes from) ours.
    /// `passing` puts that descriptor at 3 in the child (socket activation); `activation` then also sets LISTEN_FDS=1
    /// and LISTEN_PID to the child's own pid (through `sh -c 'exec'`, which keeps the pid). `stdin` is opened as
    /// standard input (/dev/null by default).
    init(_ executable: String, _ arguments: [String], environment: [String: String?] = [:], logPath: String,
         passing descriptor: Int32? = nil, stdin: String = "/dev/null") throws {
        self.logPath = logPath
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        var argv = [executable] + arguments
        if descriptor != nil {
            env["LISTEN_FDS"] = "1"
            argv = ["/bin/sh", "-c", "LISTEN_PID=$$ exec \"$0\" \"$@\""] + argv
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let descriptor { posix_spawn_file_actions_adddup2(&actions, descriptor, 3) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, argv[0], &actions, nil, cArgs, cEnv)
        guard result == 0 else { throw TestFailure("posix_spawn \(argv[0]): \(String(cString: strerror(result)))") }
        pid = child
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            _ = wait(timeout: 5)
        }
    }

    /// The exit status once it has exited (reaped), nil while running.
    var status: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { exitStatus = raw }
        }
        return exitStatus
    }

    /// Waits up to `timeout` seconds for the exit; returns the raw wait status, nil on timeout.
    func wait(timeout: Double) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if let status { return status }
            usleep(2000)
        }
        return status
    }

    /// Exit code if it exited normally, else 128 + signal.
    static func exitCode(_ raw: Int32) -> Int32 {
        (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
    }

    func signal(_ number: Int32) { kill(pid, number) }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// A running earshotd on a fixture model, in its own scratch directory.
final class Daemon: @unchecked Sendable {
    let scratch = ScratchDirectory()
    let socket: String
    let process: ChildProcess

    /// Starts earshotd and waits (≤ 20 s) until its socket answers. `config` is written to a file and passed.
    /// `fileLimit` runs it under `ulimit -n` (soft and hard RLIMIT_NOFILE).
    init(source: String = "none", model: String = Paths.model(), config: String? = nil, extra: [String] = [],
         environment: [String: String?] = [:], passing descriptor: Int32? = nil, socket: String? = nil,
         waitForSocket: Bool = true, stdin: String = "/dev/null", fileLimit: Int? = nil) throws {
        self.socket = socket ?? scratch.file("d.sock")
        // f32: the tests compare with the exact offline encoder (`Gemma4AudioModel.load` defaults to f32).
        var arguments = ["--model", model, "--source", source, "--socket", self.socket, "--log-level", "debug",
                         "--precision", "f32"]
        if let config {
            let path = scratch.file("earshotd.conf")
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            arguments += ["--config", path]
        }
        var executable = Paths.executable("earshotd")
        if let fileLimit {
            arguments = ["-c", "ulimit -n \(fileLimit) && exec \"$0\" \"$@\"", executable] + arguments
            executable = "/bin/sh"
        }
        process = try ChildProcess(executable, arguments + extra, environment: environment,
                                   logPath: scratch.file("earshotd.log"), passing: descriptor, stdin: stdin)
        if waitForSocket {
            let deadline = Date(timeIntervalSinceNow: 20)
            while !UnixSocket.answers(self.socket) {
                if let status = process.status {
                    throw TestFailure("earshotd exited (\(ChildProcess.exitCode(status))): \(process.log)")
                }
                guard Date() < deadline else { throw TestFailure("earshotd did not listen in 20 s: \(process.log)") }
                usleep(10_000)
            }
        }
    }

    /// SIGTERM, then the exit code and how long it took (nil if it did not exit in 5 s).
    func terminate() -> (code: Int32, seconds: Double)? {
        let start = Date()
        process.signal(SIGTERM)
        guard let raw = process.wait(timeout: 5) else { return nil }
        return (ChildProcess.exitCode(raw), Date().timeIntervalSince(start))
    }

    var log: String { process.log }
}

/// Plain POSIX Unix-socket helpers for tests (no NIO): raw clients that misbehave on purpose.
enum UnixSocket {
    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// A connected stream socket, or -1.
    static func connect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var address = address(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    static func answers(_ path: String) -> Bool {
        let fd = connect(path)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    /// A bound socket of `type` at `path` (listening if a stream socket), or throws.
    static func bind(_ path: String, type: Int32 = Int32(SOCK_STREAM.rawValue)) throws -> Int32 {
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = address(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
        if type == Int32(SOCK_STREAM.rawValue) { guard listen(fd, 16) == 0 else { throw TestFailure("listen") } }
        return fd
    }

    /// Waits up to `timeout` seconds for `fd` to be readable.
    static func readable(_ fd: Int32, timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(timeout * 1000)) == 1
    }

    /// One datagram (or stream read), waiting up to `timeout` seconds; nil on timeout, [] at end of stream.
    static func receive(_ fd: Int32, timeout: Double) -> [UInt8]? {
        guard readable(fd, timeout: timeout) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n <= 0 ? [] : Array(buffer[0..<n])
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }
}

/// Runs `body`, failing with `TestFailure` if it takes longer than `seconds` (the body is cancelled).
func withTimeout<T: Sendable>(_ seconds: Double, _ what: String = "the test",
                              _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestFailure("\(what) did not finish in \(seconds) s")
        }
        return value
    }
}

/// The worst absolute difference between two equally long arrays (infinity if the lengths differ).
func worstDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// `name` on $PATH (then the usual system places), or nil.
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/bin"]
    return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}
