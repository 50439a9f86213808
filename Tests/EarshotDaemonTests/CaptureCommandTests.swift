import AudioCore
import Foundation
import Testing

/// `earshot capture` run as a user runs it, on float audio no microphone gives.
struct CaptureCommandTests {
    @Test func outOfRangeFloatsOnStdinSaturateInTheInt16File() throws {
        let output = NSTemporaryDirectory() + "earshot-capture-\(UUID().uuidString).wav"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let capture = Process()
        capture.executableURL = URL(fileURLWithPath: Paths.executable("earshot"))
        capture.arguments = ["capture", "--source", "stdin:f32le:16000:1", "--output", output]
        let input = Pipe(), log = Pipe()
        capture.standardInput = input
        capture.standardError = log
        capture.standardOutput = log
        try capture.run()
        // 0.1 s of finite but absurd samples (3e38 trapped the int16 conversion), then infinities and NaN.
        let pattern: [Float] = [3e38, -3e38, .infinity, -.infinity, .nan, 0.5, 0, 0]
        let samples = (0..<200).flatMap { _ in pattern }
        input.fileHandleForWriting.write(samples.withUnsafeBytes { Data($0) })
        try input.fileHandleForWriting.close()
        let messages = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        capture.waitUntilExit()
        #expect(capture.terminationReason == .exit && capture.terminationStatus == 0, "\(messages)")
        let (info, written) = try WAV.read(path: output)
        #expect(info.sampleFormat == .s16le && info.frameCount == samples.count)
        let top: Float = 32767.0 / 32768
        #expect(Array(written.prefix(pattern.count)) == [top, -1, top, -1, 0, 0.5, 0, 0])
        #expect(written.allSatisfy { $0.isFinite && abs($0) <= 1 })
    }

    /// `file:CLIP?loop,fast` records the clip over and over up to `--seconds`, sample for sample.
    @Test func aLoopedFileRecordsTheClipAgainAndAgain() throws {
        let scratch = ScratchDirectory()
        let clip = (0..<1000).map { Float(($0 * 7919) % 2001 - 1000) / 2048 }   // exact in int16
        try WAV.write(path: scratch.file("clip.wav"), samples: clip, sampleRate: 16000, channels: 1, format: .s16le)
        let process = try ChildProcess(Paths.executable("earshot"),
                                       ["capture", "--source", "file:\(scratch.file("clip.wav"))?loop,fast",
                                        "--seconds", "0.5", "--output", scratch.file("out.wav")],
                                       logPath: scratch.file("log"))
        #expect(process.wait(timeout: 30).map(ChildProcess.exitCode) == 0, "\(process.log)")
        let (_, written) = try WAV.read(path: scratch.file("out.wav"))
        #expect(written == Array((0..<8).flatMap { _ in clip }.prefix(8000)))
    }

    /// A mistyped `--output` fails before recording, not after.
    @Test func aMissingOutputDirectoryFailsBeforeRecording() throws {
        let scratch = ScratchDirectory()
        let process = try ChildProcess(Paths.executable("earshot"),
                                       ["capture", "--source", "stdin:s16le:16000:1", "--seconds", "600",
                                        "--output", scratch.file("none/x.wav")], logPath: scratch.file("log"))
        // Standard input is /dev/null (it would end at once anyway); the error names the directory.
        #expect(process.wait(timeout: 30).map(ChildProcess.exitCode) == 1)
        #expect(process.log.contains("directory '\(scratch.file("none"))' does not exist"), "\(process.log)")
        #expect(!process.log.contains("recording"), "\(process.log)")
    }
}
