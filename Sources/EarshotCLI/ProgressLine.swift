import Foundation

/// A progress display on standard error for long steps (model loading, encoding, bench phases).
///
/// On a terminal it is one line redrawn in place and erased when done; elsewhere (a pipe, a file, a test) it prints
/// nothing, unless `--progress` forces it, when each update is a plain line, at most one a second. Updates come from
/// one thread; they are throttled so that a fast loop costs nothing.
final class ProgressLine {
    private enum Mode { case off, terminal, lines }
    private let mode: Mode
    private var lastShown = ContinuousClock.now - .seconds(10)
    private var showing = false
    private var lastText = ""

    /// `forced`: `--progress`, which shows progress where standard error is not a terminal.
    init(forced: Bool = false) {
        mode = isatty(2) != 0 ? .terminal : (forced ? .lines : .off)
    }

    var isEnabled: Bool { mode != .off }

    /// Shows `text` now if `force` or enough time has passed since the last update (0.1 s on a terminal, 1 s else),
    /// and it differs from what is shown.
    func show(_ text: @autoclosure () -> String, force: Bool = false) {
        guard mode != .off else { return }
        let now = ContinuousClock.now
        guard force || now - lastShown >= (mode == .terminal ? .milliseconds(100) : .seconds(1)) else { return }
        let line = text()
        guard line != lastText else { return }
        lastShown = now
        lastText = line
        if mode == .terminal {
            writeError("\r\u{1B}[K" + line)
            showing = true
        } else {
            printError(line)
        }
    }

    /// Erases the terminal line, so that what follows starts clean.
    func clear() {
        guard mode == .terminal, showing else { return }
        writeError("\r\u{1B}[K")
        showing = false
    }

    private func writeError(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
