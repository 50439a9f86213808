import Foundation

/// Where the shipped Silero VAD weights are found when `--vad-model` is not given (`earshot vad` and `earshotd`).
public enum VADModelLocation {
    /// The file `tools/vad/convert_silero.py` writes and the repository ships.
    public static let fileName = "silero_vad_16k_v6.safetensors"

    /// The system-wide installs, looked at last: `make install`'s default prefix, then the Debian package's.
    public static let systemDirectories = ["/usr/local/share/earshot/silero-vad", "/usr/share/earshot/silero-vad"]

    /// The places looked at, in order: `$EARSHOT_VAD_MODEL` alone when it is set (an explicit choice is not
    /// second-guessed); else `<executable dir>/../share/earshot/silero-vad/` (an installed layout, prefix/bin and
    /// prefix/share: `make install PREFIX=…` and the Debian package), then `models/silero-vad/` in the executable's
    /// directory and each directory above it (a SwiftPM build inside a checkout:
    /// `.build/<triple>/<configuration>/earshot`), then ``systemDirectories`` (an executable copied elsewhere).
    public static func candidates(executable: URL, environment: [String: String]) -> [String] {
        if let path = environment["EARSHOT_VAD_MODEL"], !path.isEmpty { return [path] }
        var paths: [String] = []
        var directory = executable.deletingLastPathComponent()
        paths.append(directory.deletingLastPathComponent().appendingPathComponent("share/earshot/silero-vad/\(fileName)").path)
        while true {
            paths.append(directory.appendingPathComponent("models/silero-vad/\(fileName)").path)
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { break }
            directory = parent
        }
        for system in systemDirectories {
            let path = "\(system)/\(fileName)"
            if !paths.contains(path) { paths.append(path) }
        }
        return paths
    }

    /// The first candidate that exists, for this process's executable and environment.
    /// - Throws: ``VADModelNotFound`` listing every place looked at.
    public static func resolve() throws -> String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let paths = candidates(executable: executable, environment: ProcessInfo.processInfo.environment)
        if paths.count == 1 { return paths[0] }   // $EARSHOT_VAD_MODEL: loading names it if it is not there
        if let found = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw VADModelNotFound(tried: paths)
    }
}

/// No Silero VAD weights where `VADModelLocation` looks.
public struct VADModelNotFound: Error, CustomStringConvertible {
    public let tried: [String]
    public var description: String {
        "no Silero VAD weights (\(VADModelLocation.fileName)) found; give --vad-model or set EARSHOT_VAD_MODEL. "
            + "Looked at: \(tried.joined(separator: ", "))"
    }
}
