import QueuePolicies
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

    // MARK: Options (`SourceSpec`)

    @Test func fileOptionsLoopAndFast() throws {
        let plain = try SourceSpec("file:/tmp/a.wav")
        #expect(plain.source == .file(path: "/tmp/a.wav"))
        #expect(!plain.loop && plain.realtime == nil && plain.delivery == nil)
        let looped = try SourceSpec("file:/tmp/a.wav?loop")
        #expect(looped.source == .file(path: "/tmp/a.wav") && looped.loop && looped.realtime == nil)
        let both = try SourceSpec("file:rel:colon.wav?fast,loop")
        #expect(both.source == .file(path: "rel:colon.wav") && both.loop && both.realtime == false)
        var configuration = CaptureConfiguration()
        both.apply(to: &configuration)
        #expect(configuration.loop && !configuration.realtime)
        #expect(configuration.delivery(for: both.source) == .backpressure)
        #expect(configuration.queuePolicy(for: both.source) == .backpressure(capacity: 50))
    }

    @Test func deliveryIsChosenPerSource() throws {
        let defaults = CaptureConfiguration()
        #expect(defaults.delivery(for: .alsa(device: "default")) == .realTime)
        #expect(defaults.delivery(for: .pulse(source: nil)) == .realTime)
        #expect(defaults.delivery(for: .file(path: "a.wav")) == .realTime)   // paced like a microphone
        let stdin = try SourceSpec("stdin:s16le:22050:1")
        #expect(defaults.delivery(for: stdin.source) == .backpressure)
        #expect(defaults.queuePolicy(for: stdin.source) == .backpressure(capacity: 50))
        let realtime = try SourceSpec("stdin:s16le:22050:1?realtime")
        #expect(realtime.source == stdin.source && realtime.delivery == .realTime)
        var configuration = CaptureConfiguration()
        realtime.apply(to: &configuration)
        #expect(configuration.delivery(for: realtime.source) == .realTime)
        #expect(configuration.queuePolicy(for: realtime.source) == .newestWins(capacity: 50))
    }

    @Test func devicesTakeQuestionMarksVerbatim() throws {
        #expect(try SourceSpec("alsa:weird?name").source == .alsa(device: "weird?name"))
        #expect(try SourceSpec("pulse:src?x").source == .pulse(source: "src?x"))
    }

    @Test(arguments: [
        ("file:a.wav?lop", "unknown file: option 'lop' (use loop, fast"),
        ("file:a.wav?loop,realtime", "unknown file: option 'realtime'"),
        ("stdin:s16le:16000:1?loop", "unknown stdin: option 'loop' (use realtime"),
        ("file:?loop", "needs a path"),
    ])
    func rejectsOptions(spec: String, reason: String) {
        let error = #expect(throws: CaptureError.self) { try SourceSpec(spec) }
        #expect(error?.kind == .badSpec)
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }
}
