import Foundation
import NumberBits
import Synchronization
import Testing
@testable import AudioCapture

/// A test step that took too long.
struct TimeoutError: Error, CustomStringConvertible {
    var what: String
    var seconds: Double
    var description: String { "timed out after \(seconds) s: \(what)" }
}

/// Runs `body`, failing with ``TimeoutError`` after `seconds`. The timeout wins even if `body` ignores
/// cancellation (it is cancelled and left behind), so no test can hang here.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let slot = ContinuationSlot<T>()
    return try await withCheckedThrowingContinuation { continuation in
        slot.put(continuation)
        let work = Task {
            do {
                let value = try await body()
                slot.take()?.resume(returning: value)
            } catch {
                slot.take()?.resume(throwing: error)
            }
        }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            if let pending = slot.take() {
                work.cancel()
                pending.resume(throwing: TimeoutError(what: what, seconds: seconds))
            }
        }
    }
}

/// Hands a continuation to whichever side takes it first.
final class ContinuationSlot<T: Sendable>: Sendable {
    private let slot = Mutex<CheckedContinuation<T, any Error>?>(nil)
    func put(_ continuation: CheckedContinuation<T, any Error>) { slot.withLock { $0 = continuation } }
    func take() -> CheckedContinuation<T, any Error>? { slot.withLock { $0.take() } }
}

/// Reads events until `samples` audio samples have arrived (or the sequence ends); every event is kept.
/// Fails after `seconds`.
func collect(_ session: CaptureSession, samples wanted: Int, seconds: Double = 30,
             until stop: (@Sendable ([CaptureEvent]) -> Bool)? = nil) async throws -> [CaptureEvent] {
    try await withTimeout(seconds, "collecting \(wanted) samples from \(session.source)") {
        var events: [CaptureEvent] = []
        var count = 0
        for try await event in session {
            events.append(event)
            if case .audio(let chunk) = event { count += chunk.samples.count }
            if count >= wanted || stop?(events) == true { break }
        }
        return events
    }
}

extension [CaptureEvent] {
    var chunks: [AudioChunk] { compactMap { if case .audio(let c) = $0 { c } else { nil } } }
    var samples: [Float] { chunks.flatMap(\.samples) }
    var discontinuities: [Discontinuity] { compactMap { if case .discontinuity(let d) = $0 { d } else { nil } } }
}

/// Repeatable pseudo-random 16-bit samples, avoiding full scale.
func randomInt16(count: Int, seed: UInt64) -> [Int16] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in Int16(truncatingIfNeeded: Int64(generator.next() % 60000) - 30000) }
}

/// Little-endian bytes of `samples`.
func bytes(_ samples: [Int16]) -> Data {
    var data = Data(capacity: samples.count * 2)
    for s in samples { withUnsafeBytes(of: s.littleEndian) { data.append(contentsOf: $0) } }
    return data
}

/// A scratch directory under /tmp, removed by `remove()`.
func temporaryDirectory(_ prefix: String) throws -> String {
    var template = Array("/tmp/earshot-\(prefix)-XXXXXX".utf8CString)
    guard let path = mkdtemp(&template) else { throw TimeoutError(what: "mkdtemp failed", seconds: 0) }
    return String(cString: path)
}

/// Writes `data` into a FIFO from a background thread after `delay`, in pieces of `piece` bytes.
/// Opening a FIFO for writing blocks until a reader has it open; the PulseAudio pipe source keeps it open.
func feedFIFO(_ path: String, _ data: Data, after delay: Double = 0.3) {
    Thread.detachNewThread {
        Thread.sleep(forTimeInterval: delay)
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return }
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
        close(fd)
    }
}
