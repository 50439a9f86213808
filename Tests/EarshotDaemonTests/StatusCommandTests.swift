import EarshotClient
import Foundation
import Testing

/// `earshot status` and `earshot top` run as a user runs them: each names itself to the daemon (issue #22, item 4:
/// top used to be listed as "earshot status") and in its errors.
@Suite struct StatusCommandTests {
    @Test func topIsListedAsEarshotTopByAnotherClientsStatus() async throws {
        let daemon = try Daemon()
        defer { _ = daemon.terminate() }
        let top = try ChildProcess(Paths.executable("earshot"), ["top", "--socket", daemon.socket],
                                   logPath: daemon.scratch.file("top.log"))
        defer {
            top.signal(SIGTERM)
            _ = top.wait(timeout: 5)
        }
        // `earshot status --json` until top has connected: it lists top, and itself, each by its own name.
        let deadline = Date(timeIntervalSinceNow: 30)
        var names: [String] = []
        while !names.contains("earshot top") {
            guard top.status == nil else { throw TestFailure("earshot top exited: \(top.log)") }
            guard Date() < deadline else { throw TestFailure("no client named 'earshot top' in 30 s: \(names)") }
            let status = try ChildProcess(Paths.executable("earshot"), ["status", "--json", "--socket", daemon.socket],
                                          logPath: daemon.scratch.file("status-\(Date().timeIntervalSince1970).json"))
            #expect(status.wait(timeout: 30).map(ChildProcess.exitCode) == 0, "\(status.log)")
            let report = try JSONDecoder().decode(DaemonStatus.self, from: Data(status.log.utf8))
            // (Nameless: the harness's probe of the socket, if the daemon has not seen it close yet.)
            names = report.connections.map(\.name).filter { !$0.isEmpty }.sorted()
            #expect(names.contains("earshot status"), "\(names)")
        }
        #expect(names == ["earshot status", "earshot top"])
    }

    @Test(arguments: [["top"], ["status"], ["status", "--watch"]])
    func anErrorIsPrefixedWithTheCommandsOwnName(_ command: [String]) throws {
        let scratch = ScratchDirectory()
        let child = try ChildProcess(Paths.executable("earshot"), command + ["--socket", scratch.file("none.sock")],
                                     logPath: scratch.file("out.log"))
        #expect(child.wait(timeout: 30).map(ChildProcess.exitCode) == 1)
        #expect(child.log.hasPrefix("earshot \(command[0]): "), "\(child.log)")
    }
}
