import Foundation
import Testing

/// What `earshot encode` and `earshot inspect` print, run as a user runs them. Standard error here is a file, not a
/// terminal: no progress unless `--progress` asks for it.
@Suite struct CommandOutputTests {
    /// Runs `earshot` with `arguments`; its exit code and everything it printed (standard output and error).
    private func earshot(_ arguments: [String]) throws -> (code: Int32?, output: String) {
        let scratch = ScratchDirectory()
        let child = try ChildProcess(Paths.executable("earshot"), arguments, logPath: scratch.file("out.log"))
        let code = child.wait(timeout: 120).map(ChildProcess.exitCode)
        return (code, child.log)
    }

    @Test func encodeEndsWithOneSummaryLineAndNoProgressOnAPipe() throws {
        let scratch = ScratchDirectory()
        let (code, output) = try earshot(["encode", "--model", Paths.model(), "--input", Paths.wav("speech"),
                                          "--output", scratch.file("e.npy"), "--precision", "f32"])
        #expect(code == 0, "\(output)")
        // The speech case: 48 000 samples at 16 kHz (Tests/Fixtures/cases/speech/meta.json), 75 tokens.
        let pattern = #"^earshot encode: 75 tokens from 3\.00 s of audio in \d+\.\d\d s \(RTF \d+\.\d{3}; "#
            + #"model loaded in \d+\.\d\d s\)\n$"#
        #expect(output.range(of: pattern, options: .regularExpression) != nil, "\(output)")

        let (melCode, mel) = try earshot(["encode", "--stage", "mel", "--input", Paths.wav("speech"),
                                          "--output", scratch.file("m.npy")])
        #expect(melCode == 0)
        #expect(mel.range(of: #"^earshot encode: 299 mel frames from 3\.00 s of audio in \d+\.\d\d s \(RTF \d+\.\d{3}\)\n$"#,
                          options: .regularExpression) != nil, "\(mel)")
    }

    @Test func encodeShowsProgressWhenAsked() throws {
        let scratch = ScratchDirectory()
        let (code, output) = try earshot(["encode", "--model", Paths.model(), "--input", Paths.wav("speech"),
                                          "--output", scratch.file("e.npy"), "--progress"])
        #expect(code == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "loading \(Paths.model())…")
        #expect(lines.contains("encoding \(Paths.wav("speech")): 100% (3.0 of 3.0 s of audio)"), "\(output)")
        #expect(lines.last?.hasPrefix("earshot encode: 75 tokens from 3.00 s of audio") == true)
        #expect(!output.contains("\u{1B}["))   // plain lines, no terminal codes
    }

    /// SHA-256 of the audio tensors' `name dtype shape` lines and stored bytes, by name: the expected values were
    /// computed independently with Python's hashlib over the safetensors files (docs/models.md gives the rule).
    @Test func inspectPrintsTheSameFingerprintForOneFileAndShards() throws {
        let tinyF32 = "sha256:8ce1248c97ef785c500d31fcd4ff8e5d94da34e6470804b30152d0d0e4a42067"
        for (model, fingerprint) in [("tiny-f32", tinyF32), ("tiny-sharded", tinyF32),
                                     ("tiny-bf16", "sha256:03be6d842ca022557f6f92296a69d60f6a878f99ef47f0080d424d664869d6a1")] {
            let (code, output) = try earshot(["inspect", "--model", Paths.model(model)])
            #expect(code == 0, "\(output)")
            #expect(output.contains("\nfingerprint:") && output.contains(" \(fingerprint)\n"), "\(model): \(output)")
        }
        let (_, sharded) = try earshot(["inspect", "--model", Paths.model("tiny-sharded")])
        #expect(sharded.contains("Hugging Face safetensors (2 shards)"))
    }

    @Test func inspectTakesRandomModelsAsEncodeDoes() throws {
        let (code, output) = try earshot(["inspect", "--model", "random:e2b"])
        #expect(code == 0, "\(output)")
        #expect(output.contains("embedding width D: 1536"), "\(output)")
        #expect(output.contains("fingerprint:") && output.contains("none: random weights are defined by their seed"))
        let (badCode, bad) = try earshot(["inspect", "--model", "random:e9b"])
        #expect(badCode != 0)
        #expect(bad.contains("unknown random model size 'e9b'"), "\(bad)")
    }

    /// Echo (issue #24): a seed checkpoint directory encodes in windows, and inspect names the family.
    @Test func echoEncodesInWindowsAndInspectNamesTheFamily() throws {
        let scratch = ScratchDirectory()
        let model = "\(Paths.fixtures)/echo/zerokey", wav = "\(Paths.fixtures)/echo/speech/input.wav"
        // 12 288 samples: one whole window of 7680 and a partial one, padded: 2 × 48 rows.
        let (code, output) = try earshot(["encode", "--model", model, "--input", wav, "--output", scratch.file("e.npy")])
        #expect(code == 0, "\(output)")
        #expect(output.hasPrefix("earshot encode: 96 tokens from 0.77 s of audio"), "\(output)")
        let (inspectCode, inspect) = try earshot(["inspect", "--model", model])
        #expect(inspectCode == 0, "\(inspect)")
        #expect(inspect.contains("family:          echo\n"), "\(inspect)")
        #expect(inspect.contains("sha256:1b8721560e8bc743594c3472db6fc74f22d9d07ca3ecbfa090e1eafdd8369fba"))
        let (_, gemma) = try earshot(["inspect", "--model", Paths.model()])
        #expect(gemma.contains("family:            gemma4\n"), "\(gemma)")
        let (streamCode, stream) = try earshot(["encode", "--model", model, "--input", wav, "--output",
                                                scratch.file("s.npy"), "--stream"])
        #expect(streamCode != 0)
        #expect(stream.contains("--stream does not apply to Echo"), "\(stream)")
    }
}
