import Testing
@testable import AudioCapture

@Suite struct SourceSpecTests {
    @Test(arguments: [
        ("alsa:default", CaptureSource.alsa(device: "default")),
        ("alsa:hw:1,0", .alsa(device: "hw:1,0")),
        ("alsa:plughw:CARD=Mic,DEV=0", .alsa(device: "plughw:CARD=Mic,DEV=0")),
        ("pulse:", .pulse(source: nil)),
        ("pulse:alsa_input.usb-mic", .pulse(source: "alsa_input.usb-mic")),
        ("file:/tmp/a b.wav", .file(path: "/tmp/a b.wav")),
        ("file:rel:colon.wav", .file(path: "rel:colon.wav")),
        ("stdin:s16le:48000:2", .stdin(StreamFormat(sampleFormat: .s16le, sampleRate: 48000, channels: 2))),
        ("stdin:S32LE:16000:1", .stdin(StreamFormat(sampleFormat: .s32le, sampleRate: 16000, channels: 1))),
        ("stdin:f32le:44100:6", .stdin(StreamFormat(sampleFormat: .f32le, sampleRate: 44100, channels: 6))),
    ])
    func parses(spec: String, source: CaptureSource) throws {
        #expect(try CaptureSource(spec: spec) == source)
        #expect(try CaptureSource(spec: source.description) == source)
    }

    @Test(arguments: [
        ("default", "expected KIND:ARGUMENT"),
        ("alsa:", "needs a device"),
        ("file:", "needs a path"),
        ("mic:0", "unknown source kind 'mic'"),
        ("stdin:s16le:48000", "expected stdin:FORMAT:RATE:CHANNELS"),
        ("stdin:u8:48000:2", "unknown sample format 'u8'"),
        ("stdin:s16le:fast:2", "sample rate 'fast'"),
        ("stdin:s16le:48000:0", "channel count '0'"),
    ])
    func rejects(spec: String, reason: String) {
        let error = #expect(throws: CaptureError.self) { try CaptureSource(spec: spec) }
        #expect(error?.kind == .badSpec)
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }

    @Test func decodesEachSampleFormat() {
        var out: [Float] = []
        let s16: [UInt8] = [0x00, 0x80, 0xFF, 0x7F, 0x00, 0x40]
        s16.withUnsafeBytes { PCMSampleFormat.s16le.decode($0, sampleCount: 3, into: &out) }
        #expect(out == [-1, 32767 / 32768, 0.5])
        let s32: [UInt8] = [0, 0, 0, 0x80, 0, 0, 0, 0xC0]
        s32.withUnsafeBytes { PCMSampleFormat.s32le.decode($0, sampleCount: 2, into: &out) }
        #expect(out == [-1, -0.5])
        let f32: [UInt8] = [0, 0, 0x80, 0x3E]   // 0.25
        f32.withUnsafeBytes { PCMSampleFormat.f32le.decode($0, sampleCount: 1, into: &out) }
        #expect(out == [0.25])
    }
}
