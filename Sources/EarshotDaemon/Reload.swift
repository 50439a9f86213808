import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon's log level, shared by every copy of its `Logger` so that SIGHUP can change it while it runs.
package final class LiveLogLevel: Sendable {
    private let level: Mutex<Logger.Level>

    package init(_ level: Logger.Level) {
        self.level = Mutex(level)
    }

    package var value: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// swift-log's standard-error lines, filtered at the level a ``LiveLogLevel`` holds at each call.
package struct LiveLevelLogHandler: LogHandler {
    private var inner: StreamLogHandler
    private let level: LiveLogLevel

    package init(label: String, level: LiveLogLevel) {
        inner = StreamLogHandler.standardError(label: label)
        self.level = level
    }

    package var logLevel: Logger.Level {
        get { level.value }
        set { level.value = newValue }
    }

    package var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    package var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    package func log(event: LogEvent) {
        inner.log(event: event)
    }
}

/// SIGHUP, systemd's `ExecReload` convention: reads the configuration again (the config file, then the command
/// line, which still wins) and checks it as a start would (``Daemon/preflight(_:fileLimit:)``: sources, users and
/// groups, gRPC's security rules and TLS files, the connection caps against the file limit). A configuration that
/// does not parse or would not start is logged as an error naming what it refuses, and changes nothing. Otherwise
/// it applies what can change safely while clients are served — `log-level` — and names any other setting that
/// differs in a warning: it takes effect at the next start. The daemon keeps serving throughout.
struct ReloadService: Service {
    /// The configuration as it would be resolved now.
    let resolve: @Sendable () throws -> DaemonConfiguration
    let running: DaemonConfiguration
    let level: LiveLogLevel
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            reload()
        }
    }

    private func reload() {
        let fresh: DaemonConfiguration
        do {
            fresh = try resolve()
        } catch {
            logger.error("SIGHUP: the configuration does not load; nothing changed", metadata: ["error": "\(error)"])
            return
        }
        do {
            _ = try Daemon.preflight(fresh, fileLimit: FileBudget.currentLimit())
        } catch {
            logger.error("SIGHUP: the new configuration would not start; nothing changed, the running one is kept",
                         metadata: ["error": "\(error)"])
            return
        }
        if fresh.logLevel != level.value { level.value = fresh.logLevel }
        var unchanged = fresh
        unchanged.logLevel = running.logLevel
        let pending = Self.differences(running, unchanged)
        if pending.isEmpty {
            logger.notice("SIGHUP: configuration reloaded", metadata: ["log-level": "\(fresh.logLevel)"])
        } else {
            logger.warning("SIGHUP: configuration reloaded; these settings take effect at the next start", metadata: [
                "log-level": "\(fresh.logLevel)", "restart-needed": "\(pending.joined(separator: ", "))"])
        }
    }

    /// The names of the settings that differ between `a` and `b`.
    static func differences(_ a: DaemonConfiguration, _ b: DaemonConfiguration) -> [String] {
        Mirror(reflecting: a).children.compactMap { child -> String? in
            guard let label = child.label,
                  let other = Mirror(reflecting: b).children.first(where: { $0.label == label }) else { return nil }
            return String(describing: child.value) == String(describing: other.value) ? nil : label
        }
    }
}
