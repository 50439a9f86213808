import Synchronization

/// Who watches a stream's log-mel frames (the live view's spectrogram). The stream's worker shows each frame the
/// encoder's frontend computes to the watchers, on the compute thread, before the encoder reads it; with nobody
/// watching that costs one atomic load per chunk of audio.
package final class MelTap: Sendable {
    /// Gets frames on a compute thread: the stream-timeline sample where the first frame's hop starts (frames are 160
    /// samples apart) and the frames' values, 128 per frame, valid only during the call. Must not block.
    package typealias Watcher = @Sendable (_ firstSample: Int64, _ frames: UnsafeBufferPointer<Float>) -> Void

    private let watchers = Mutex<(byID: [Int: Watcher], nextID: Int)>(([:], 0))
    private let watched = Atomic(false)

    package init() {}

    var isWatched: Bool { watched.load(ordering: .relaxed) }

    /// Adds a watcher; the id removes it.
    package func watch(_ watcher: @escaping Watcher) -> Int {
        watchers.withLock { w in
            defer { w.nextID += 1 }
            w.byID[w.nextID] = watcher
            watched.store(true, ordering: .relaxed)
            return w.nextID
        }
    }

    /// Removes a watcher (a delivery already under way on a compute thread may still finish).
    package func stop(_ id: Int) {
        watchers.withLock { w in
            w.byID[id] = nil
            watched.store(!w.byID.isEmpty, ordering: .relaxed)
        }
    }

    func deliver(firstSample: Int64, frames: UnsafeBufferPointer<Float>) {
        for watcher in watchers.withLock({ Array($0.byID.values) }) { watcher(firstSample, frames) }
    }
}
