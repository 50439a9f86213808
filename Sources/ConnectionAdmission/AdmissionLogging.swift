import Logging

extension Logger {
    /// Logs a listener's admission events without letting a flood of connections flood the log: a refusal is a
    /// warning when the running count of refusals reaches a power of two (1, 2, 4 …), else debug; an expired
    /// connection is debug.
    package func admissionEvents(_ listener: String) -> @Sendable (ListenerAdmission.Event) -> Void {
        { [self] event in
            switch event {
            case .refused(let open, let total):
                let level: Logger.Level = total & (total - 1) == 0 ? .warning : .debug
                log(level: level, "connection refused: the listener's connection cap is reached", metadata: [
                    "listener": "\(listener)", "open": "\(open)", "refusedSinceStart": "\(total)"])
            case .expired(let reason):
                debug("connection closed", metadata: ["listener": "\(listener)", "reason": "\(reason)"])
            }
        }
    }
}
