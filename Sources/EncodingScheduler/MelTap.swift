import Synchronization

/// Who watches a stream's log-mel frames (the live view's spectrogram). The stream's worker shows each frame the
/// encoder's frontend computes to the watchers, on the compute thread: Gemma 4's as audio arrives, before the encoder
/// reads them; Echo's a window at a time, once the window is encoded. With nobody watching that costs one atomic load
/// per chunk of audio.
package final class MelTap: Sendable {
    /// Gets frames on a compute thread: the stream-timeline sample where the first frame's hop starts (frames are 160
    /// samples apart) and the frames' values, the model's `melBins` per frame, valid only during the call. Must not
    /// block.
    package typealias Watcher = @Sendable (_ firstSample: Int64, _ frames: UnsafeBufferPointer<Float>) -> Void

    private let watchers = Mutex<(byID: [Int: (frames: Watcher, ended: @Sendable () -> Void)], nextID: Int,
                                  ended: Bool)>(([:], 0, false))
    private let watched = Atomic(false)

    package init() {}

    var isWatched: Bool { watched.load(ordering: .relaxed) }

    /// Adds a watcher; the id removes it. `ended` is called once when the stream's last frame has been shown (at
    /// once if that has happened).
    package func watch(_ watcher: @escaping Watcher, ended: @escaping @Sendable () -> Void) -> Int {
        let (id, over) = watchers.withLock { w in
            defer { w.nextID += 1 }
            if !w.ended {
                w.byID[w.nextID] = (watcher, ended)
                watched.store(true, ordering: .relaxed)
            }
            return (w.nextID, w.ended)
        }
        if over { ended() }
        return id
    }

    /// Removes a watcher (a delivery already under way on a compute thread may still finish).
    package func stop(_ id: Int) {
        watchers.withLock { w in
            w.byID[id] = nil
            watched.store(!w.byID.isEmpty, ordering: .relaxed)
        }
    }

    func deliver(firstSample: Int64, frames: UnsafeBufferPointer<Float>) {
        for watcher in watchers.withLock({ Array($0.byID.values) }) { watcher.frames(firstSample, frames) }
    }

    /// The stream has ended: every watcher hears it once and is let go.
    func streamEnded() {
        let all = watchers.withLock { w in
            w.ended = true
            defer { w.byID = [:] }
            watched.store(false, ordering: .relaxed)
            return Array(w.byID.values)
        }
        for watcher in all { watcher.ended() }
    }
}
