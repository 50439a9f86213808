import ArgumentParser
import BuildInfo

/// `earshot`: the command-line face of Earshot. Each subcommand parses its arguments and calls into the library.
public struct EarshotCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "earshot",
        abstract: "Gemma 4 audio embeddings, offline and live.",
        version: BuildInfo.versionLine,
        subcommands: [EncodeCommand.self, VADCommand.self, InspectCommand.self, BenchCommand.self,
                      CaptureCommand.self, DevicesCommand.self,
                      ListenCommand.self, PushCommand.self, LoadCommand.self, StatusCommand.self, TopCommand.self])

    public init() {}
}

extension EarshotCommand {
    /// Parses the process's arguments and runs the chosen subcommand (the async entry point).
    public static func runFromCommandLine() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
