import BuildInfo
import Foundation
import Testing

/// `--version` on both executables, from the one source of truth: the VERSION file and the git revision, checked
/// against the file itself and against `git rev-parse` (an independent reader of the same checkout).
@Suite struct VersionTests {
    /// What `git rev-parse --short=8 HEAD` says about the checkout, or nil without git or outside a checkout.
    static func gitRevision() throws -> String? {
        let scratch = ScratchDirectory()
        let log = scratch.file("git.log")
        let git = try ChildProcess("/bin/sh", ["-c", "cd '\(Paths.root)' && git rev-parse --short=8 HEAD 2>/dev/null"],
                                   logPath: log)
        guard let raw = git.wait(timeout: 30), ChildProcess.exitCode(raw) == 0 else { return nil }
        return git.log.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func buildInfoIsTheVersionFileAndTheCheckedOutCommit() throws {
        let file = try String(contentsOfFile: "\(Paths.root)/VERSION", encoding: .utf8)
        #expect(BuildInfo.version == file.trimmingCharacters(in: .whitespacesAndNewlines))
        if let revision = try Self.gitRevision() {
            #expect(BuildInfo.revision == revision)
        } else {
            #expect(BuildInfo.revision == "unknown")
        }
    }

    @Test(arguments: ["earshotd", "earshot"])
    func bothExecutablesPrintTheVersion(_ name: String) throws {
        let scratch = ScratchDirectory()
        let run = try ChildProcess(Paths.executable(name), ["--version"], logPath: scratch.file("version.log"))
        let code = run.wait(timeout: 30).map(ChildProcess.exitCode)
        #expect(code == 0)
        #expect(run.log == "earshot \(BuildInfo.version) (git \(BuildInfo.revision))\n")
    }
}
