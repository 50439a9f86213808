import ClientSessions
import EarshotTypes
import QueuePolicies
import Synchronization

/// Where the spectrogram feed gets a live stream's log-mel frames (the daemon: the stream's `MelTap`).
package protocol SpectrogramSource: Sendable {
    /// Values per frame (the model's mel bins: 128 for Gemma 4 and the seed's Echo).
    var melBins: Int { get }
    /// Starts showing `stream`'s log-mel frames to `watcher` as the encoder computes them, on compute threads (it
    /// must not block): the stream-timeline sample where the first frame's hop starts, and `melBins × n` values; `ended`
    /// once the stream has ended (after its last frame). Nil if the daemon has no live stream of that name. The
    /// returned closure stops it.
    func watchSpectrogram(of stream: String,
                          _ watcher: @escaping @Sendable (_ firstSample: Int64, _ frames: [Float]) -> Void,
                          ended: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)?
}

/// A WebSocket of a live stream's log-mel frames, for the page's spectrogram: per chunk the encoder computed, a text
/// frame `{"mel":firstSample,"frames":n,"bins":B}` and a binary frame of `n × B` little-endian float32 values (B: the
/// model's mel bins; Echo's frames come a window at a time, once the window is encoded).
/// When the stream ends the feed closes with 1000 after its last frame.
/// Chunks wait in a ``SendQueue`` of `melQueueFrames / 8` chunks: a reader that falls behind loses the newest chunks,
/// and then gets a `lagged` event (`count`: frames lost) before the next chunk it is sent (or before the end).
struct SpectrogramFeed: Sendable {
    let source: (any SpectrogramSource)?
    let feeds: FeedSessions

    func run(stream: String, peer: String, send: @escaping @Sendable (FeedMessage) async throws -> Void) async
        -> FeedClose {
        let bins = source?.melBins ?? 128
        let queue = ChunkQueue(capacity: max(1, feeds.configuration.melQueueFrames / 8), bins: bins)
        // Not a token client, but a client all the same: it holds a connection and a queue, so it is admitted
        // through the same registry (a session that subscribes to nothing) and counts against `max-clients`.
        let session: any ClientSession
        do throws(FeedRefusal) {
            session = try feeds.open(peer: peer, limits: SessionLimits(subscriptions: 0, pushes: 0)) {
                ClientActivity(name: "websocket spectrogram \(stream)", queuedFrames: queue.pendingCount)
            }
        } catch {
            return .refused(error)
        }
        defer { session.close() }
        guard let stop = source?.watchSpectrogram(of: stream, { queue.push(MelChunk(firstSample: $0, values: $1)) },
                                                  ended: { queue.close(streamEnded: true) })
        else {
            return .refused(FeedRefusal("unknownStream", "no live stream named '\(stream)'"))
        }
        defer { stop() }
        let gate = feeds.gate
        return await feeds.running.during {
            do {
                try await send(.text("{\"started\":\(FeedFrames.jsonString(stream)),\"bins\":\(bins),\"hopSamples\":160}"))
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await gate.untilStopped()
                        if !Task.isCancelled { queue.close(streamEnded: false) }
                    }
                    defer { group.cancelAll() }
                    while let item = try await queue.next() {
                        switch item {
                        case .chunk(let chunk):
                            try await send(.text("{\"mel\":\(chunk.firstSample),\"frames\":\(chunk.values.count / bins),"
                                                 + "\"bins\":\(bins)}"))
                            try await send(.binary(chunk.values.withUnsafeBytes { Array($0) }))
                        case .lagged(let at, let frames):
                            try await send(.text(FeedFrames.event(EventInfo(.lagged, at: at, count: frames))))
                        }
                    }
                    return queue.streamEnded ? .ended : .stopping
                }
            } catch {
                return .gone(error)
            }
        }
    }
}

/// Frames the encoder computed in one chunk of audio.
struct MelChunk: Sendable {
    var firstSample: Int64
    var values: [Float]
}

enum MelItem: Sendable, SendQueueItem {
    case chunk(MelChunk)
    /// Frames lost from `at` (a stream-timeline sample).
    case lagged(at: Int64, frames: UInt64)

    var isLive: Bool { if case .chunk = self { true } else { false } }
    var lostTokens: UInt64 { if case .lagged(_, let frames) = self { frames } else { 0 } }
}

/// One spectrogram feed's queue: filled on compute threads (never waits), drained by the feed's writer.
final class ChunkQueue: Sendable {
    private struct State {
        var queue: SendQueue<MelItem>
        /// Frames refused since the last chunk queued, and where the first of them started.
        var lost: (at: Int64, frames: UInt64)?
        var waiter: CheckedContinuation<MelItem?, any Error>?
        var closed = false
        /// Closed because the stream ended (not because the daemon stops).
        var streamEnded = false
    }

    private let state: Mutex<State>
    /// Values per frame.
    private let bins: Int

    init(capacity: Int, bins: Int) {
        state = Mutex(State(queue: SendQueue(liveCapacity: capacity, hardLimit: 16)))
        self.bins = bins
    }

    func push(_ chunk: MelChunk) {
        let waiter: (CheckedContinuation<MelItem?, any Error>, MelItem)? = state.withLock { s in
            guard !s.closed else { return nil }
            let frames = UInt64(chunk.values.count / bins)
            if let lost = s.lost {
                if s.queue.hasLiveRoom {
                    // Room again: the gap first, then this chunk.
                    _ = s.queue.push(.lagged(at: lost.at, frames: lost.frames))
                    s.lost = nil
                } else {
                    s.lost = (lost.at, lost.frames + frames)
                    return nil
                }
            }
            if s.queue.push(.chunk(chunk)) != .enqueued {
                s.lost = (chunk.firstSample, frames)
                return nil
            }
            guard let waiter = s.waiter, let item = s.queue.pop() else { return nil }
            s.waiter = nil
            return (waiter, item)
        }
        if let (waiter, item) = waiter { waiter.resume(returning: item) }
    }

    var streamEnded: Bool { state.withLock { $0.streamEnded } }

    /// Chunks waiting to be sent (for status).
    var pendingCount: Int { state.withLock { $0.queue.pendingCount } }

    /// No more chunks (the stream ended, or the daemon stops): the writer gets what is queued, with a last `lagged`
    /// for frames lost since the previous one, then nil.
    func close(streamEnded: Bool) {
        let resume: (CheckedContinuation<MelItem?, any Error>, MelItem?)? = state.withLock { s in
            guard !s.closed else { return nil }
            s.closed = true
            s.streamEnded = streamEnded
            if let lost = s.lost.take() { _ = s.queue.push(.lagged(at: lost.at, frames: lost.frames)) }
            guard let waiter = s.waiter else { return nil }
            s.waiter = nil
            return (waiter, s.queue.pop())     // a writer waits only on an empty queue
        }
        if let (waiter, item) = resume { waiter.resume(returning: item) }
    }

    func next() async throws -> MelItem? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MelItem?, any Error>) in
                let now: MelItem?? = state.withLock { s in
                    if let item = s.queue.pop() { return .some(item) }
                    if s.closed || Task.isCancelled { return .some(nil) }
                    s.waiter = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                s.closed = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
