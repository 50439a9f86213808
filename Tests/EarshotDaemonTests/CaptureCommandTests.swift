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
}
