/// What was built: the release (the repository's `VERSION` file, the one source of the version — the Debian package
/// reads it too) and the git revision, generated at build time by the BuildInfo plugin.
public enum BuildInfo {
    /// What `--version` prints, e.g. "earshot 0.3.0 (git 1a2b3c4d)".
    public static var versionLine: String {
        "earshot \(version) (git \(revision))"
    }
}
