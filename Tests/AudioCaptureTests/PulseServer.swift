import Foundation
@testable import AudioCapture

/// Runs `body` on a new thread and awaits it, so blocking work (spawning, waiting for a server, waitpid) never
/// holds a thread of the cooperative pool. (On Linux the pool is libdispatch's, and starving it also starves
/// everything else that runs there.)
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
    }
}

/// A throwaway PulseAudio server for one test: its own directory, socket and pipe source, no hardware.
/// Started through ci/pulse-server.sh, which also stops the server if this test process dies. Processes are
/// spawned with `posix_spawn` and reaped with `waitpid` here, by pid.
final class PulseServer: @unchecked Sendable {
    let directory: String
    let rate: Int
    let channels: Int
    private let lock = NSLock()
    private var wrapper: pid_t?

    /// The server address for `CaptureConfiguration.pulseServer`.
    var server: String { "unix:\(directory)/native" }
    /// Write raw s16le frames here; the source `src` delivers them.
    var fifo: String { "\(directory)/src.fifo" }

    /// nil if the `pulseaudio` binary is missing.
    static var binary: String? {
        ["/usr/bin/pulseaudio", "/usr/local/bin/pulseaudio", "/bin/pulseaudio"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// ci/pulse-server.sh, found from this file's path (Tests/AudioCaptureTests/ → ../../ci/).
    static let script: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ci/pulse-server.sh").path
    }()

    init(rate: Int, channels: Int) throws {
        _ = Self.sweep
        directory = try temporaryDirectory("pa")
        self.rate = rate
        self.channels = channels
    }

    /// Removes server directories an earlier test run left behind (the script removes its directory when it stops
    /// the server, but not if it was killed itself). Only directories untouched for an hour, so parallel runs keep
    /// theirs.
    private static let sweep: Void = {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: "/tmp") else { return }
        for name in names where name.hasPrefix("earshot-pa-") {
            let path = "/tmp/\(name)"
            if let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
               modified < Date(timeIntervalSinceNow: -3600) {
                try? fm.removeItem(atPath: path)
            }
        }
    }()

    deinit {
        if let wrapper = lock.withLock({ self.wrapper }) {
            kill(wrapper, SIGTERM)   // the script stops pulseaudio, removes the directory and exits
            let serverPID = self.serverPID
            Thread.detachNewThread { Self.reap(wrapper: wrapper, server: serverPID, within: 8) }
        }
    }

    /// The pulseaudio process's pid, from DIR/pid.
    private var serverPID: pid_t? {
        (try? String(contentsOfFile: "\(directory)/pid", encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Waits (polling) for the wrapper to exit; after `seconds`, kills the server and the wrapper outright.
    private static func reap(wrapper: pid_t, server: pid_t?, within seconds: Double) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        var status: Int32 = 0
        while waitpid(wrapper, &status, WNOHANG) == 0 {
            if Date() > deadline {
                if let server { kill(server, SIGKILL) }
                kill(wrapper, SIGKILL)
                waitpid(wrapper, &status, 0)
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Starts the server and waits (at most 20 s) until its pipe source answers.
    func start() async throws {
        try await onThread { try self.startBlocking() }
    }

    /// Kills the server process itself (SIGKILL: a crash, as a client sees it) or stops it (SIGTERM), and waits
    /// (at most 8 s) for it and its wrapper to exit.
    func stop(kill hard: Bool = false) async throws {
        try await onThread { self.stopBlocking(hard: hard) }
    }

    private func startBlocking() throws {
        guard Self.binary != nil else { throw ServerError("pulseaudio is not installed") }
        let pid = try spawn(["/bin/bash", Self.script, directory, String(rate), String(channels),
                             String(getpid())], environment: ["PULSE_SERVER_REMOVE_DIR=1"])
        lock.withLock { wrapper = pid }
        let deadline = Date(timeIntervalSinceNow: 20)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                lock.withLock { wrapper = nil }
                throw ServerError("pulseaudio exited at start:\n\(log)")
            }
            if FileManager.default.fileExists(atPath: "\(directory)/native"),
               (try? PulseConnection(server: server, timeout: .milliseconds(500)).source(named: "src")) != nil {
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stopBlocking(hard: false)
        throw ServerError("pulseaudio did not answer within 20 s:\n\(log)")
    }

    private func stopBlocking(hard: Bool) {
        guard let pid = lock.withLock({ wrapper }) else { return }
        let server = serverPID
        if hard, let server {
            kill(server, SIGKILL)   // the wrapper sees the server gone and exits (keeping the directory)
        } else {
            kill(pid, SIGTERM)
        }
        Self.reap(wrapper: pid, server: server, within: 8)
        lock.withLock { wrapper = nil }
    }

    /// posix_spawn with the current environment plus `environment`; stdin from /dev/null, stdout and stderr to
    /// DIR/wrapper.log. The child starts with no signals blocked and SIGTERM/SIGINT at their defaults: threads
    /// made by libdispatch block every signal and children inherit the mask, and a shell cannot trap a signal
    /// that was ignored when it started, so without this the script would never see the TERM that stops it.
    private func spawn(_ arguments: [String], environment: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "\(directory)/wrapper.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let inherited = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        var envp: [UnsafeMutablePointer<CChar>?] = (inherited + environment).map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, &envp)
        guard result == 0 else { throw ServerError("posix_spawn \(arguments[0]): \(String(cString: strerror(result)))") }
        return pid
    }

    var log: String {
        ["wrapper.log", "pulseaudio.log"].map {
            (try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8)) ?? ""
        }.joined(separator: "\n")
    }

    struct ServerError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
