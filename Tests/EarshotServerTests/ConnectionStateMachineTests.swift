import Testing
@testable import EarshotServer
import WireProtocol

/// The protocol rules, without sockets.
@Suite struct ConnectionStateMachineTests {
    func machine(maxPushed: Int = 2) -> ConnectionStateMachine {
        ConnectionStateMachine(liveStreams: ["mic", "line"], payloadTypes: [.f32, .f16], maxPushedStreams: maxPushed)
    }

    func open() -> ConnectionStateMachine {
        var m = machine()
        _ = m.received(.hello(Hello(clientName: "t")))
        return m
    }

    @Test func subscriptionsBeyondTheCapAreRefusedNotFatal() {
        var m = ConnectionStateMachine(liveStreams: ["mic"], payloadTypes: [.f32], maxPushedStreams: 1,
                                       maxSubscriptions: 2)
        _ = m.received(.hello(Hello(clientName: "t")))
        for request in 1...2 {
            guard case .subscribe = m.received(.subscribe(Subscribe(request: UInt32(request), stream: "mic"))) else {
                Issue.record("subscription \(request) refused"); return
            }
        }
        guard case .reject(let request, let error) = m.received(.subscribe(Subscribe(request: 3, stream: "mic"))) else {
            Issue.record("a third subscription was accepted"); return
        }
        #expect(request == 3 && error.code == .tooManySubscriptions)
        #expect(m.subscriptions.count == 2)
        // Room again after an unsubscribe.
        _ = m.received(.unsubscribe(stream: m.subscriptions.keys.first!))
        guard case .subscribe = m.received(.subscribe(Subscribe(request: 4, stream: "mic"))) else {
            Issue.record("refused after an unsubscribe"); return
        }
    }

    /// Without voice activity, a speech option is refused (not fatal) and allocates nothing; the same requests
    /// without options, and any request to a server with voice activity, go through.
    @Test func speechOptionsNeedVoiceActivity() {
        var off = ConnectionStateMachine(liveStreams: ["mic"], payloadTypes: [.f32], maxPushedStreams: 1,
                                         voiceActivity: false)
        _ = off.received(.hello(Hello(clientName: "t")))
        let subscribe = Subscribe(request: 1, stream: "mic", options: [.speechOnly])
        let push = PushStart(request: 2, format: .f32le, sampleRate: 16000, channels: 1, options: [.speechEvents])
        guard case .reject(1, let e1) = off.received(.subscribe(subscribe)),
              case .reject(2, let e2) = off.received(.pushStart(push)) else {
            Issue.record("a speech option was accepted with voice activity off"); return
        }
        #expect(e1.code == .voiceActivityOff && e2.code == .voiceActivityOff)
        #expect(off.subscriptions.isEmpty && off.pushes.isEmpty)
        guard case .subscribe = off.received(.subscribe(Subscribe(request: 3, stream: "mic"))) else {
            Issue.record("a plain subscription was refused"); return
        }
        var on = open()
        guard case .subscribe = on.received(.subscribe(subscribe)), case .startPush = on.received(.pushStart(push)) else {
            Issue.record("a speech option was refused with voice activity on"); return
        }
    }

    @Test func helloThenWelcome() {
        var m = machine()
        #expect(m.received(.hello(Hello(versions: 1...4, clientName: "t"))) == .welcome(version: 1, clientName: "t"))
        #expect(m.state == .open(version: 1))
    }

    @Test func wrongVersionFailsAndCloses() {
        var m = machine()
        guard case .fail(_, let error) = m.received(.hello(Hello(versions: 2...3, clientName: "t"))) else {
            Issue.record("accepted"); return
        }
        #expect(error.code == .unsupportedVersion)
        #expect(m.state == .closed)
        #expect(m.received(.ping(nonce: 1)) == .ignore)
    }

    @Test(arguments: [ClientMessage.ping(nonce: 1), .status(request: 1), .pushEnd(stream: 1),
                      .subscribe(Subscribe(request: 1, stream: "mic"))])
    func anythingBeforeHelloFails(_ message: ClientMessage) {
        var m = machine()
        guard case .fail(_, let error) = m.received(message) else { Issue.record("accepted"); return }
        #expect(error.code == .handshakeRequired)
    }

    @Test func secondHelloFails() {
        var m = open()
        guard case .fail(_, let error) = m.received(.hello(Hello(clientName: "again"))) else {
            Issue.record("accepted"); return
        }
        #expect(error.code == .handshakeRequired)
    }

    @Test func subscriptionsGetFreshIDs() {
        var m = open()
        let a = m.received(.subscribe(Subscribe(request: 5, stream: "mic")))
        let b = m.received(.subscribe(Subscribe(request: 6, stream: "mic", payload: .f16)))
        #expect(a == .subscribe(id: 1, Subscribe(request: 5, stream: "mic")))
        #expect(b == .subscribe(id: 2, Subscribe(request: 6, stream: "mic", payload: .f16)))
        #expect(m.received(.unsubscribe(stream: 1)) == .unsubscribe(id: 1, name: "mic"))
        guard case .reject(_, let error) = m.received(.unsubscribe(stream: 1)) else { Issue.record("accepted"); return }
        #expect(error.code == .unknownStream)
    }

    @Test func unknownStreamAndPayloadAreRejectedNotFatal() {
        var m = open()
        guard case .reject(7, let e1) = m.received(.subscribe(Subscribe(request: 7, stream: "nope"))) else {
            Issue.record("accepted"); return
        }
        #expect(e1.code == .unknownStream)
        guard case .reject(8, let e2) = m.received(.subscribe(Subscribe(request: 8, stream: "mic", payload: .bf16))) else {
            Issue.record("accepted"); return
        }
        #expect(e2.code == .unsupportedPayload)
        #expect(m.state == .open(version: 1))
    }

    @Test func pushLifecycle() {
        var m = open()
        let start = PushStart(request: 1, format: .s16le, sampleRate: 48000, channels: 2)
        #expect(m.received(.pushStart(start)) == .startPush(id: 1, start))
        let format = ConnectionStateMachine.PushFormat(format: .s16le, sampleRate: 48000, channels: 2)
        #expect(m.received(.pushAudio(stream: 1, pcm: [1, 2, 3, 4])) == .pushAudio(id: 1, pcm: [1, 2, 3, 4], format))
        #expect(m.received(.pushEnd(stream: 1)) == .endPush(id: 1))
        guard case .reject(_, let error) = m.received(.pushAudio(stream: 1, pcm: [1, 2, 3, 4])) else {
            Issue.record("accepted audio after pushEnd"); return
        }
        #expect(error.code == .unknownStream)
    }

    @Test func partialFramesAreFatal() {
        var m = open()
        _ = m.received(.pushStart(PushStart(request: 1, format: .s16le, sampleRate: 48000, channels: 2)))
        guard case .fail(_, let error) = m.received(.pushAudio(stream: 1, pcm: [1, 2, 3])) else {
            Issue.record("accepted"); return
        }
        #expect(error.code == .badAudioFormat)
    }

    @Test func tooManyPushedStreamsIsFatal() {
        var m = open()
        for r in 1...2 {
            _ = m.received(.pushStart(PushStart(request: UInt32(r), format: .f32le, sampleRate: 16000, channels: 1)))
        }
        guard case .fail(3, let error) = m.received(.pushStart(PushStart(request: 3, format: .f32le,
                                                                         sampleRate: 16000, channels: 1))) else {
            Issue.record("accepted"); return
        }
        #expect(error.code == .tooManyPushedStreams)
        #expect(m.state == .closed)
    }

    @Test func endedPushesFreeTheirSlot() {
        var m = open()
        for r in 1...5 {
            let start = PushStart(request: UInt32(r), format: .f32le, sampleRate: 16000, channels: 1)
            guard case .startPush(let id, _) = m.received(.pushStart(start)) else { Issue.record("refused"); return }
            #expect(m.received(.pushEnd(stream: id)) == .endPush(id: id))
        }
    }

    @Test(arguments: [(0 as UInt32, 1 as UInt16), (999, 1), (800_000, 1), (16000, 0), (16000, 65)])
    func badPushFormatsAreRejected(rate: UInt32, channels: UInt16) {
        var m = open()
        guard case .reject(_, let error) = m.received(.pushStart(PushStart(request: 1, format: .s16le,
                                                                           sampleRate: rate, channels: channels))) else {
            Issue.record("accepted"); return
        }
        #expect(error.code == .badAudioFormat)
    }

    @Test func decodingFailureIsFatalOnce() {
        var m = open()
        #expect(m.decodingFailed(ProtocolError(.malformedFrame, "x")) == .fail(request: 0, ProtocolError(.malformedFrame, "x")))
        #expect(m.decodingFailed(ProtocolError(.malformedFrame, "x")) == .ignore)
    }
}
