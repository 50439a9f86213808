@testable import EarshotDaemon
import WireProtocol
import Foundation
import Testing

/// The unit files in systemd/ pass `systemd-analyze verify` (strictly: any complaint about them fails), with
/// ExecStart pointed at the built earshotd. Skipped where systemd-analyze is not installed.
@Suite struct SystemdUnitTests {
    @Test func unitFilesVerify() throws {
        let scratch = ScratchDirectory()
        let script = try ChildProcess("/bin/bash", ["\(Paths.root)/systemd/verify.sh", Paths.executable("earshotd")],
                                  logPath: scratch.file("verify.log"))
        guard let raw = script.wait(timeout: 60) else {
            Issue.record("systemd/verify.sh did not finish in 60 s")
            return
        }
        let code = ChildProcess.exitCode(raw)
        if code == 77 { return }   // no systemd-analyze here
        #expect(code == 0, "\(script.log)")
    }

    /// `systemctl reload` sends SIGHUP, which earshotd takes as a reload (HardeningTests checks that it does).
    @Test func servicesReloadWithSighup() throws {
        for unit in ["earshotd.service", "earshotd-user.service"] {
            let text = try String(contentsOfFile: "\(Paths.root)/systemd/\(unit)", encoding: .utf8)
            #expect(text.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"), "\(unit) has no ExecReload")
        }
    }

    /// Each service sets LimitNOFILE, with room for the default connection caps of every listener (issue #19).
    @Test func servicesSetAFileLimitAboveTheDefaultCaps() throws {
        var everything = DaemonConfiguration()
        everything.grpcAddress = "127.0.0.1:50051"
        everything.grpcHealthAddress = ListenAddress(host: "127.0.0.1", port: 50052)
        everything.metricsAddress = ListenAddress(host: "127.0.0.1", port: 9464)
        for unit in ["earshotd.service", "earshotd-user.service"] {
            let text = try String(contentsOfFile: "\(Paths.root)/systemd/\(unit)", encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("LimitNOFILE=") }, "\(unit)")
            let limit = try #require(Int(line.dropFirst("LimitNOFILE=".count)))
            #expect(throws: Never.self) { try FileBudget.check(everything, limit: limit) }
        }
    }
}
