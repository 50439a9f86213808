import Testing
@testable import EarshotServer
import WireProtocol

/// The hello deadline, idle connections and stalled frames, as a value on a made-up clock.
@Suite struct ConnectionDeadlinesTests {
    let t0 = ContinuousClock.now

    func deadlines() -> ConnectionDeadlines {
        ConnectionDeadlines(hello: .seconds(10), idle: .seconds(60), connectedAt: t0)
    }

    @Test func noHelloInTimeExpires() {
        var d = deadlines()
        #expect(d.expired(at: t0 + .seconds(9), activePushes: 0) == nil)
        #expect(d.expired(at: t0 + .seconds(10), activePushes: 0)?.code == .timedOut)
        // Bytes that are not yet a hello do not help.
        d.readerBusy()
        d.readerWaiting(at: t0 + .seconds(9), partialFrame: true, subscriptions: 0)
        #expect(d.expired(at: t0 + .seconds(10), activePushes: 0)?.message == "no hello within 10 s of connecting")
    }

    @Test func anIdleConnectionWithNothingOpenExpires() {
        var d = deadlines()
        d.helloCompleted()
        d.readerWaiting(at: t0 + .seconds(1), partialFrame: false, subscriptions: 0)
        #expect(d.expired(at: t0 + .seconds(60), activePushes: 0) == nil)
        #expect(d.expired(at: t0 + .seconds(61), activePushes: 0)?.code == .timedOut)
    }

    @Test func aSubscriberOrAPusherMayStayQuiet() {
        var d = deadlines()
        d.helloCompleted()
        d.readerWaiting(at: t0, partialFrame: false, subscriptions: 1)
        #expect(d.expired(at: t0 + .seconds(3600), activePushes: 0) == nil)
        d.readerWaiting(at: t0, partialFrame: false, subscriptions: 0)
        #expect(d.expired(at: t0 + .seconds(3600), activePushes: 1) == nil)
        #expect(d.expired(at: t0 + .seconds(3600), activePushes: 0) != nil)
    }

    @Test func aFrameLeftUnfinishedExpiresWhateverIsOpen() {
        var d = deadlines()
        d.helloCompleted()
        d.readerWaiting(at: t0, partialFrame: true, subscriptions: 3)
        #expect(d.expired(at: t0 + .seconds(59), activePushes: 2) == nil)
        let error = d.expired(at: t0 + .seconds(60), activePushes: 2)
        #expect(error == ProtocolError(.timedOut, "a frame was left unfinished for 60 s"))
    }

    /// While the reader acts on frames (a push waiting for the encoder's budget), the client cannot send:
    /// that time never counts against it.
    @Test func timeTheServerSpendsDoesNotCount() {
        var d = deadlines()
        d.helloCompleted()
        d.readerWaiting(at: t0, partialFrame: true, subscriptions: 0)
        d.readerBusy()
        #expect(d.expired(at: t0 + .seconds(500), activePushes: 0) == nil)
        d.readerWaiting(at: t0 + .seconds(500), partialFrame: true, subscriptions: 0)
        #expect(d.expired(at: t0 + .seconds(559), activePushes: 0) == nil)
        #expect(d.expired(at: t0 + .seconds(560), activePushes: 0) != nil)
    }
}
