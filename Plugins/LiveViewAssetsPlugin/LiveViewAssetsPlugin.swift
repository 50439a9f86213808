import Foundation
import PackagePlugin

/// Generates `LiveViewAssets+Generated.swift` from the files in the target's `Assets/` folder (the live view's page,
/// script and style sheet) with `LiveViewAssetsGenerator`, so the daemon serves them from inside its binary: the
/// Debian package ships the static binaries alone, and nothing is looked up on disk at run time.
@main
struct LiveViewAssetsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let folder = target.directoryURL.appendingPathComponent("Assets")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { !$0.hasPrefix(".") }.sorted()
        let inputs = names.map { folder.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("LiveViewAssets+Generated.swift")
        return [.buildCommand(
            displayName: "Embedding the live view's assets",
            executable: try context.tool(named: "LiveViewAssetsGenerator").url,
            arguments: [output.path] + inputs.map(\.path),
            inputFiles: inputs,
            outputFiles: [output])]
    }
}
