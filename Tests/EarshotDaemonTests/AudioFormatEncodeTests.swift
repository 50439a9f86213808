import AudioCore
import AudioFiles
import EarshotCLI
import EarshotClient
import Foundation
import Testing

/// `earshot encode` on compressed and non-PCM files (issue #18): identical samples give identical embeddings, and
/// `--input -` reads a real pipe as the file reads. The decoders themselves are checked in AudioFilesTests.
struct AudioFormatEncodeTests {
    /// Runs `tool` with `arguments` as a ``ChildProcess``; throws with its output when it fails.
    static func run(_ tool: String, _ arguments: [String]) throws {
        let log = NSTemporaryDirectory() + "earshot-tool-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess("/usr/bin/env", [tool] + arguments, logPath: log)
        guard let raw = child.wait(timeout: 120), ChildProcess.exitCode(raw) == 0 else {
            throw TestFailure("\(tool) failed: \(child.log)")
        }
    }

    static func available(_ tools: [String]) -> Bool {
        tools.allSatisfy { tool in
            ["/usr/bin", "/bin", "/usr/local/bin"].contains {
                FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
            }
        }
    }

    static func embeddings(_ path: String) throws -> FloatArray {
        try Encoding.run(modelPath: Paths.model(), inputPath: path, stage: .embeddings, streaming: nil)
    }

    @Test("a lossless file encodes to the bits of sox's decode of it, at any rate and channel count",
          .enabled(if: available(["sox", "flac"]), "needs sox and flac"),
          arguments: [("speech", "flac", [String]()), ("speech", "wav", ["-e", "a-law"]),
                      ("speech", "wav", ["-e", "u-law"]), ("stereo44k", "flac", []), ("stereo44k", "aiff", [])])
    func losslessFileEncodesAsItsSamples(caseName: String, fileExtension: String, soxOptions: [String]) throws {
        let scratch = ScratchDirectory()
        let made = scratch.file("made.\(fileExtension)")
        if fileExtension == "flac" {
            try Self.run("flac", ["--silent", "--force", "-o", made, Paths.wav(caseName)])
        } else {
            try Self.run("sox", [Paths.wav(caseName)] + soxOptions + [made])
        }
        let decoded = scratch.file("reference.wav")
        try Self.run("sox", [made, "-e", "floating-point", "-b", "32", decoded])
        #expect(try AudioInput.loadMono16k(path: made) == (try AudioInput.loadMono16k(path: decoded)))
        let tokens = try Self.embeddings(made)
        #expect(tokens.shape[0] > 0)
        #expect(tokens == (try Self.embeddings(decoded)))
    }

    @Test("a lossy file encodes to the bits of its decoded samples written as a float WAV",
          .enabled(if: available(["lame", "opusenc", "oggenc"]), "needs lame, opusenc and oggenc"),
          arguments: ["mp3", "opus", "ogg"])
    func lossyFileEncodesAsItsSamples(fileExtension: String) throws {
        let scratch = ScratchDirectory()
        let made = scratch.file("made.\(fileExtension)")
        switch fileExtension {
        case "mp3": try Self.run("lame", ["--quiet", Paths.wav("speech"), made])
        case "opus": try Self.run("opusenc", ["--quiet", Paths.wav("speech"), made])
        default: try Self.run("oggenc", ["--quiet", "-o", made, Paths.wav("speech")])
        }
        let (info, samples) = try AudioFileReader.readAll(path: made)
        let decoded = scratch.file("decoded.wav")
        try WAV.write(path: decoded, samples: samples, sampleRate: info.sampleRate, channels: info.channels,
                      format: .f32le)
        #expect(try Self.embeddings(made) == (try Self.embeddings(decoded)))
    }

    @Test("earshot encode --input - reads a FLAC stream from a pipe to the bytes --input FILE writes",
          .enabled(if: available(["flac"]), "needs flac"))
    func encodeFromStandardInput() throws {
        let scratch = ScratchDirectory()
        let flac = scratch.file("speech.flac")
        try Self.run("flac", ["--silent", "--force", "-o", flac, Paths.wav("stereo44k")])
        func encode(input: String, output: String, stdin: Data?) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Paths.executable("earshot"))
            process.arguments = ["encode", "--model", Paths.model(), "--input", input, "--output", output,
                                 "--threads", "1"]
            let errors = Pipe()
            process.standardError = errors
            let pipe = Pipe()
            if stdin != nil { process.standardInput = pipe }
            try process.run()
            if let stdin {
                // A real pipe: the writer blocks until earshot has read what the pipe holds.
                pipe.fileHandleForWriting.write(stdin)
                try pipe.fileHandleForWriting.close()
            }
            let message = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw TestFailure("earshot encode failed: \(String(decoding: message, as: UTF8.self))")
            }
        }
        try encode(input: flac, output: scratch.file("file.npy"), stdin: nil)
        try encode(input: "-", output: scratch.file("pipe.npy"),
                   stdin: try Data(contentsOf: URL(fileURLWithPath: flac)))
        let fromFile = try Data(contentsOf: URL(fileURLWithPath: scratch.file("file.npy")))
        #expect(fromFile.count > 128)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.file("pipe.npy"))) == fromFile)
    }

    @Test("earshot encode names an M4A file and says how to convert it", .enabled(if: available(["ffmpeg"])))
    func m4aIsRefusedWithAHint() throws {
        let scratch = ScratchDirectory()
        let m4a = scratch.file("talk.m4a")
        try Self.run("ffmpeg", ["-nostdin", "-loglevel", "error", "-i", Paths.wav("speech"), "-c:a", "aac", m4a])
        let error = #expect(throws: AudioFileError.self) { try Self.embeddings(m4a) }
        #expect(error?.description.hasPrefix("\(m4a): an MP4/M4A/MOV file") == true)
        #expect(error?.description.contains("ffmpeg -i IN -ac 1 -ar 16000 OUT.flac") == true)
    }

    @Test("earshotd reads a FLAC file: source and earshot push an MP3, each to the bits earshot encode gives",
          .enabled(if: available(["flac", "lame"]), "needs flac and lame"), .timeLimit(.minutes(2)))
    func daemonFileSourceAndPushInOtherFormats() async throws {
        let scratch = ScratchDirectory()
        let flac = scratch.file("speech.flac"), mp3 = scratch.file("stereo.mp3")
        try Self.run("flac", ["--silent", "--force", "-o", flac, Paths.wav("speech")])
        try Self.run("lame", ["--quiet", Paths.wav("stereo44k"), mp3])
        let daemon = try Daemon(source: "file:\(flac)")
        let socket = daemon.socket
        let (live, pushed) = try await withTimeout(60, "a FLAC source and an MP3 push") {
            async let live = EarshotConnection.withConnection(to: socket) { connection in
                let subscription = try await connection.subscribe(to: "mic", from: .oldest)
                return try await DaemonIntegrationTests.collect(connection, subscription)
            }
            async let pushed = PushCommand.encode(socket: socket, input: mp3)
            return try await (live, pushed)
        }
        #expect(live.flatMap(\.values) == (try Self.embeddings(flac)).values)
        let encoded = try Self.embeddings(mp3)
        #expect(pushed.shape == encoded.shape)
        #expect(pushed.values == encoded.values)
        #expect(daemon.terminate()?.code == 0)
    }
}
