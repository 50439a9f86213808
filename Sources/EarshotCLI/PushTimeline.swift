import Synchronization

/// When a push sent its audio and when each token came back, for `earshot load`'s latency figures. A token's latency
/// runs from the send of the piece of audio that completed it (its last sample, at the input rate) to its arrival:
/// block wait, compute, queueing and both transports' I/O included.
package final class PushTimeline: Sendable {
    private struct State {
        /// (input frames sent so far, when), in order.
        var sends: [(frames: Int, at: ContinuousClock.Instant)] = []
        var latencies: [Duration] = []
        var firstSend: ContinuousClock.Instant?
        var lastToken: ContinuousClock.Instant?
    }

    let inputRate: Int
    private let state = Mutex(State())

    init(inputRate: Int) {
        self.inputRate = inputRate
    }

    /// `frames` more input frames were written.
    func sent(frames: Int) {
        let now = ContinuousClock.now
        state.withLock { s in
            s.sends.append((frames: (s.sends.last?.frames ?? 0) + frames, at: now))
            if s.firstSend == nil { s.firstSend = now }
        }
    }

    /// Token `index` arrived.
    func received(token index: Int) {
        let now = ContinuousClock.now
        // The token's last sample at the input rate (the end-of-clip token may cover audio never sent: the last send).
        let needed = ((index + 1) * 640 * inputRate + 15_999) / 16_000
        state.withLock { s in
            s.lastToken = now
            guard let sent = s.sends.first(where: { $0.frames >= needed }) ?? s.sends.last else { return }
            s.latencies.append(now - sent.at)
        }
    }

    var latencies: [Duration] { state.withLock { $0.latencies } }
    /// Input frames sent so far.
    var framesSent: Int { state.withLock { $0.sends.last?.frames ?? 0 } }
    /// From the first audio sent to the last token received.
    var duration: Duration? {
        state.withLock { s in s.firstSend.flatMap { first in s.lastToken.map { $0 - first } } }
    }
}
