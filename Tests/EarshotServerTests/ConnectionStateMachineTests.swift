import Testing
@testable import EarshotServer
import WireProtocol

/// The protocol rules, without sockets. (What a request may ask of the daemon is the session layer's:
/// ClientSessionsTests.RequestChecksTests.)
@Suite struct ConnectionStateMachineTests {
    func open() -> ConnectionStateMachine {
        var m = ConnectionStateMachine()
        _ = m.received(.hello(Hello(clientName: "t")))
        return m
    }

    @Test func helloThenWelcome() {
        var m = ConnectionStateMachine()
        #expect(m.received(.hello(Hello(versions: 1...4, clientName: "t"))) == .welcome(version: 1, clientName: "t"))
        #expect(m.state == .open(version: 1))
    }

    @Test func wrongVersionFailsAndCloses() {
        var m = ConnectionStateMachine()
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
        var m = ConnectionStateMachine()
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

    /// A subscription gets its id only once the session took it: a refused request uses none.
    @Test func subscriptionsGetFreshIDs() {
        var m = open()
        let request = Subscribe(request: 5, stream: "mic")
        #expect(m.received(.subscribe(request)) == .subscribe(request))
        #expect(m.nextStreamID == 1)
        #expect(m.subscribed("mic") == 1)
        _ = m.received(.subscribe(Subscribe(request: 6, stream: "nope")))   // refused by the session: no id
        #expect(m.subscribed("mic") == 2)
        #expect(m.received(.unsubscribe(stream: 1)) == .unsubscribe(id: 1, name: "mic"))
        guard case .reject(_, let error) = m.received(.unsubscribe(stream: 1)) else { Issue.record("accepted"); return }
        #expect(error.code == .unknownStream)
        #expect(m.subscriptions == [2: "mic"])
    }

    @Test func pushLifecycle() {
        var m = open()
        let start = PushStart(request: 1, format: .s16le, sampleRate: 48000, channels: 2)
        #expect(m.received(.pushStart(start)) == .startPush(start))
        #expect(m.pushStarted(frameBytes: 4) == 1)
        #expect(m.received(.pushAudio(stream: 1, pcm: [1, 2, 3, 4])) == .pushAudio(id: 1, pcm: [1, 2, 3, 4]))
        #expect(m.received(.pushEnd(stream: 1)) == .endPush(id: 1))
        guard case .reject(_, let error) = m.received(.pushAudio(stream: 1, pcm: [1, 2, 3, 4])) else {
            Issue.record("accepted audio after pushEnd"); return
        }
        #expect(error.code == .unknownStream)
    }

    @Test func partialFramesAreFatal() {
        var m = open()
        _ = m.received(.pushStart(PushStart(request: 1, format: .s16le, sampleRate: 48000, channels: 2)))
        _ = m.pushStarted(frameBytes: 4)
        guard case .fail(_, let error) = m.received(.pushAudio(stream: 1, pcm: [1, 2, 3])) else {
            Issue.record("accepted"); return
        }
        #expect(error.code == .badAudioFormat)
        #expect(m.state == .closed)
    }

    @Test func subscriptionsAndPushesShareTheIDs() {
        var m = open()
        #expect(m.subscribed("mic") == 1)
        #expect(m.pushStarted(frameBytes: 2) == 2)
        #expect(m.subscribed("line") == 3)
        #expect(m.pushes == [2: 2])
    }

    @Test func decodingFailureIsFatalOnce() {
        var m = open()
        #expect(m.decodingFailed(ProtocolError(.malformedFrame, "x")) == .fail(request: 0, ProtocolError(.malformedFrame, "x")))
        #expect(m.decodingFailed(ProtocolError(.malformedFrame, "x")) == .ignore)
    }
}
