import ConnectionAdmission
import NIOCore
import Testing

/// ``ConnectionClock`` as a value: every policy, at exact instants.
@Suite struct ConnectionClockTests {
    let limits = AdmissionLimits(maxConnections: 4, firstRequestTimeout: .seconds(10), idleTimeout: .seconds(300))
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aConnectionWithoutARequestExpiresAtTheFirstRequestDeadline() throws {
        let clock = ConnectionClock(limits: limits, acceptedAt: t0)
        let expiry = try #require(clock.expiry)
        #expect(expiry.at == t0 + .seconds(10))
        #expect(expiry.reason == "no request within 10 s of connecting")
    }

    @Test func anOpenRequestHoldsTheConnectionHoweverLong() {
        var clock = ConnectionClock(limits: limits, acceptedAt: t0)
        clock.requestStarted()
        #expect(clock.expiry == nil)
        clock.requestStarted()
        clock.requestFinished(at: t0 + .seconds(5000))
        #expect(clock.expiry == nil, "one of two requests is still open")
        #expect(clock.openRequests == 1)
    }

    @Test func afterTheLastRequestTheIdleDeadlineRunsFromItsEnd() throws {
        var clock = ConnectionClock(limits: limits, acceptedAt: t0)
        clock.requestStarted()
        clock.requestFinished(at: t0 + .seconds(3))
        let expiry = try #require(clock.expiry)
        #expect(expiry.at == t0 + .seconds(303))
        #expect(expiry.reason == "no request for 300 s")
    }

    @Test func aFinishWithoutAStartChangesNothing() {
        var clock = ConnectionClock(limits: limits, acceptedAt: t0)
        let before = clock
        clock.requestFinished(at: t0 + .seconds(1))
        #expect(clock == before)
    }

    @Test func fractionalDeadlinesAreNamedExactly() throws {
        let short = AdmissionLimits(maxConnections: 1, firstRequestTimeout: .milliseconds(1500),
                                    idleTimeout: .milliseconds(250))
        var clock = ConnectionClock(limits: short, acceptedAt: t0)
        #expect(try #require(clock.expiry).reason == "no request within 1.5 s of connecting")
        clock.requestStarted()
        clock.requestFinished(at: t0)
        #expect(try #require(clock.expiry).reason == "no request for 0.25 s")
    }
}
