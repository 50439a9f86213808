import Foundation
import PackagePlugin

/// Generates `BuildInfo+Generated.swift` (the version from the package's `VERSION` file and the git revision) for the
/// target it is applied to, with `BuildInfoGenerator`. The command's inputs are the files the answer depends on —
/// `VERSION`, git's `HEAD`, the branch's ref file and `packed-refs` — so a commit, a checkout or a new version
/// regenerates it and nothing else does.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let root = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("BuildInfo+Generated.swift")
        var inputs = [root.appendingPathComponent("VERSION")]
        inputs += Self.gitFiles(root: root)
        return [.buildCommand(
            displayName: "Generating the build's version and git revision",
            executable: try context.tool(named: "BuildInfoGenerator").url,
            arguments: [root.path, output.path],
            inputFiles: inputs,
            outputFiles: [output])]
    }

    /// The git files naming the checked-out commit, those that exist: `HEAD`, the ref it points at (in the git
    /// directory or, for a worktree, the common one) and `packed-refs`. None outside a git checkout.
    static func gitFiles(root: URL) -> [URL] {
        let fileManager = FileManager.default
        var gitDirectory = root.appendingPathComponent(".git")
        // A worktree or submodule: `.git` is a file saying "gitdir: PATH".
        if let pointer = try? String(contentsOf: gitDirectory, encoding: .utf8), pointer.hasPrefix("gitdir:") {
            let path = pointer.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespacesAndNewlines)
            gitDirectory = path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)
        }
        let head = gitDirectory.appendingPathComponent("HEAD")
        guard let headText = try? String(contentsOf: head, encoding: .utf8) else { return [] }
        var directories = [gitDirectory]
        if let common = try? String(contentsOf: gitDirectory.appendingPathComponent("commondir"), encoding: .utf8) {
            let path = common.trimmingCharacters(in: .whitespacesAndNewlines)
            directories.append(path.hasPrefix("/") ? URL(fileURLWithPath: path)
                                                   : gitDirectory.appendingPathComponent(path))
        }
        var files = [head]
        let line = headText.trimmingCharacters(in: .whitespacesAndNewlines)
        for directory in directories {
            if line.hasPrefix("ref:") {
                let ref = line.dropFirst("ref:".count).trimmingCharacters(in: .whitespaces)
                files.append(directory.appendingPathComponent(ref))
            }
            files.append(directory.appendingPathComponent("packed-refs"))
        }
        return files.filter { fileManager.fileExists(atPath: $0.path) }
    }
}
