import ArgumentParser

/// `earshot`: the command-line face of Earshot. Each subcommand parses its arguments and calls into the library.
public struct EarshotCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "earshot",
        abstract: "Gemma 4 audio embeddings, offline and live.",
        subcommands: [EncodeCommand.self, CaptureCommand.self, DevicesCommand.self])

    public init() {}
}
