import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify without libsystemd: one datagram to the Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for
/// the abstract namespace). Without the variable, every call does nothing.
package struct SystemdNotifier: Sendable {
    /// The socket address, as systemd gave it.
    package let socketPath: String?

    package init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"]
        socketPath = (path?.isEmpty ?? true) ? nil : path
    }

    package var isActive: Bool { socketPath != nil }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments). Returns false if it could not be sent.
    @discardableResult
    package func notify(_ state: String) -> Bool {
        guard let path = socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }   // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { body in
                    var result: Int
                    repeat {
                        result = sendto(fd, body.baseAddress, body.count, Int32(MSG_NOSIGNAL), sa, length)
                    } while result < 0 && errno == EINTR
                    return result
                }
            }
        }
        return sent == message.count
    }

    /// The watchdog interval systemd expects pings within (`$WATCHDOG_USEC`, for this process per `$WATCHDOG_PID`).
    package static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], let number = Int32(pid), number != getpid() { return nil }
        return .microseconds(usec)
    }
}

/// Socket activation (`sd_listen_fds`): systemd passes listening sockets from descriptor 3 on, with
/// `LISTEN_PID` = our pid and `LISTEN_FDS` = how many. Earshot uses the first.
package enum SocketActivation {
    package static let firstDescriptor: Int32 = 3

    /// The passed descriptor, if this process was socket-activated. The variables are removed from the environment
    /// (so child processes do not inherit them), as `sd_listen_fds(1)` does.
    package static func takeListeningDescriptor() throws(DaemonError) -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = environment["LISTEN_PID"], let countText = environment["LISTEN_FDS"] else { return nil }
        guard let pid = Int32(pidText), pid == getpid() else { return nil }
        guard let count = Int(countText), count >= 1 else { return nil }
        if count > 1 {
            throw DaemonError("socket activation passed \(count) sockets; earshotd takes exactly one (earshotd.socket)")
        }
        let fd = firstDescriptor
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw DaemonError("socket activation: descriptor \(fd) is not a socket")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }
}

/// Pings the systemd watchdog (`WATCHDOG=1`) at half its interval while the daemon runs; says `STOPPING=1` on
/// graceful shutdown. A ping goes out only while the compute threads keep up (`isHealthy`).
package struct WatchdogService: Service {
    let notifier: SystemdNotifier
    let interval: Duration?
    let isHealthy: @Sendable () -> Bool
    let logger: Logger

    package init(notifier: SystemdNotifier, interval: Duration?, logger: Logger, isHealthy: @escaping @Sendable () -> Bool) {
        self.notifier = notifier
        self.interval = interval
        self.logger = logger
        self.isHealthy = isHealthy
    }

    package func run() async throws {
        if let interval, notifier.isActive {
            logger.info("watchdog pings enabled", metadata: ["every": "\(interval / 2)"])
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval / 2) }
                } catch {
                    break
                }
                if isHealthy() {
                    notifier.notify("WATCHDOG=1")
                } else {
                    logger.warning("unhealthy: withholding the watchdog ping")
                }
            }
        } else {
            try? await gracefulShutdown()
        }
        notifier.notify("STOPPING=1")
    }
}
