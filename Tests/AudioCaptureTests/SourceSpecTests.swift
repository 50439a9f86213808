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
        ("stdin:s24le:96000:2", .stdin(StreamFormat(sampleFormat: .s24le, sampleRate: 96000, channels: 2))),
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
        ("stdin:s8:48000:2", "unknown sample format 's8'"),
        ("stdin:s16le:fast:2", "sample rate 'fast'"),
        ("stdin:s16le:48000:0", "channel count '0'"),
    ])
    func rejects(spec: String, reason: String) {
        let error = #expect(throws: CaptureError.self) { try CaptureSource(spec: spec) }
        #expect(error?.kind == .badSpec)
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }

}
