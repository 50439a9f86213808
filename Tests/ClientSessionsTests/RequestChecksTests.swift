import ClientSessions
import EarshotTypes
import Testing

/// What every transport's requests pass before the engine is asked: one set of checks, with the socket's messages.
@Suite struct RequestChecksTests {
    func checks(voiceActivity: Bool = true, subscriptions: Int = 2, pushes: Int = 2) -> RequestChecks {
        RequestChecks(model: SessionModel(id: "m", embeddingWidth: 4, encoderWidth: 3, samplesPerToken: 640, payloads: [.f32, .f16],
                                          voiceActivity: voiceActivity),
                      limits: SessionLimits(subscriptions: subscriptions, pushes: pushes))
    }

    func refusal(_ body: () throws(SessionRefusal) -> Void) -> SessionRefusal? {
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownStreamsAreNamedWithTheOnesServed() {
        let c = checks()
        let error = refusal { () throws(SessionRefusal) in
            try c.check(SubscribeRequest(stream: "nope"), liveStreams: ["mic", "line"], held: 0)
        }
        #expect(error == SessionRefusal(.unknownStream, "no live stream named 'nope' (have: line, mic)"))
        let none = refusal { () throws(SessionRefusal) in
            try c.check(SubscribeRequest(stream: "nope"), liveStreams: [], held: 0)
        }
        #expect(none?.message == "no live stream named 'nope' (this server has none)")
    }

    @Test func payloadsNotOfferedAreRefused() {
        let c = checks()
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(SubscribeRequest(stream: "mic", payload: .bf16), liveStreams: ["mic"], held: 0)
        }?.reason == .unsupportedPayload)
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(PushRequest(format: .f32le, sampleRate: 16000, channels: 1, payload: .bf16), held: 0)
        } == SessionRefusal(.unsupportedPayload, "payload bf16 is not offered"))
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(SubscribeRequest(stream: "mic", payload: .f16), liveStreams: ["mic"], held: 0)
        } == nil)
    }

    /// Without voice activity a speech option is refused; the same request without it, or with voice activity on,
    /// passes.
    @Test func speechOptionsNeedVoiceActivity() {
        let off = checks(voiceActivity: false), on = checks()
        let subscribe = SubscribeRequest(stream: "mic", options: [.speechOnly])
        let push = PushRequest(format: .f32le, sampleRate: 16000, channels: 1, options: [.speechEvents])
        #expect(refusal { () throws(SessionRefusal) in try off.check(subscribe, liveStreams: ["mic"], held: 0) }
                == SessionRefusal(.voiceActivityOff, "voice activity is off on this server (earshotd --no-vad)"))
        #expect(refusal { () throws(SessionRefusal) in try off.check(push, held: 0) }?.reason == .voiceActivityOff)
        #expect(refusal { () throws(SessionRefusal) in
            try off.check(SubscribeRequest(stream: "mic"), liveStreams: ["mic"], held: 0)
        } == nil)
        #expect(refusal { () throws(SessionRefusal) in try on.check(subscribe, liveStreams: ["mic"], held: 0) } == nil)
        #expect(refusal { () throws(SessionRefusal) in try on.check(push, held: 0) } == nil)
    }

    @Test func limitsCountWhatTheClientHolds() {
        let c = checks(subscriptions: 2, pushes: 1)
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(SubscribeRequest(stream: "mic"), liveStreams: ["mic"], held: 1)
        } == nil)
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(SubscribeRequest(stream: "mic"), liveStreams: ["mic"], held: 2)
        } == SessionRefusal(.tooManySubscriptions, "at most 2 subscriptions per connection"))
        let push = PushRequest(format: .s16le, sampleRate: 48000, channels: 2)
        #expect(refusal { () throws(SessionRefusal) in try c.check(push, held: 0) } == nil)
        #expect(refusal { () throws(SessionRefusal) in try c.check(push, held: 1) }
                == SessionRefusal(.tooManyPushes, "at most 1 pushed streams per connection"))
    }

    /// The limit comes first for a push (the socket closes a client past it), the format after.
    @Test func thePushLimitIsCheckedFirst() {
        let c = checks(pushes: 1)
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(PushRequest(format: .s16le, sampleRate: 0, channels: 1, payload: .bf16), held: 1)
        }?.reason == .tooManyPushes)
    }

    @Test(arguments: [(0, 1), (999, 1), (800_000, 1), (16000, 0), (16000, 65)])
    func badPushFormatsAreRefused(rate: Int, channels: Int) {
        let c = checks()
        let error = refusal { () throws(SessionRefusal) in
            try c.check(PushRequest(format: .s16le, sampleRate: rate, channels: channels), held: 0)
        }
        #expect(error?.reason == .badAudioFormat)
    }

    @Test func pushRangesAreTheDocumentedOnes() {
        let c = checks()
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(PushRequest(format: .s16le, sampleRate: 999, channels: 1), held: 0)
        }?.message == "sample rate 999 is outside 1000…768000")
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(PushRequest(format: .s16le, sampleRate: 1000, channels: 65), held: 0)
        }?.message == "channel count 65 is outside 1…64")
        #expect(refusal { () throws(SessionRefusal) in
            try c.check(PushRequest(format: .s16le, sampleRate: 768_000, channels: 64), held: 0)
        } == nil)
    }

    @Test func labelsAreBoundedAsClientText() {
        let c = checks()
        let error = refusal { () throws(SessionRefusal) in
            try c.check(PushRequest(format: .s16le, sampleRate: 16000, channels: 1,
                                    label: String(repeating: "é", count: 129)), held: 0)
        }
        #expect(error == SessionRefusal(.badAudioFormat, "label is 258 bytes; the limit is 256"))
    }
}
