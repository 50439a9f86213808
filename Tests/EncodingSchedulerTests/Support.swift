import AudioCore
import Foundation
import Gemma4Audio
@testable import EncodingScheduler
import Synchronization
import EarshotTypes

/// Paths of the committed fixtures.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static func model(_ name: String = "tiny-f32") -> String { "\(root)/models/\(name)" }
    static func wav(_ name: String) -> String { "\(root)/cases/\(name)/input.wav" }

    /// 16 kHz mono samples of a fixture case (the cases used here are already 16 kHz mono).
    static func samples(_ name: String) throws -> [Float] {
        let (info, samples) = try WAV.read(path: wav(name))
        precondition(info.sampleRate == 16_000 && info.channels == 1, "\(name) is not 16 kHz mono")
        return samples
    }

    static let tiny: Gemma4AudioModel = try! Gemma4AudioModel.load(path: model())
}

/// A token with its values, as a sink received it.
struct Received: Equatable {
    var info: TokenInfo
    var embedding: [Float]
}

/// A sink that records everything, thread-safe.
final class RecordingSink: TokenSink {
    struct State {
        var tokens: [Received] = []
        var events: [(EventKind, Int64, UInt64)] = []
        /// Each event's message, in the same order.
        var messages: [String] = []
        var ended: UInt64?
        var endWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let state = Mutex(State())

    func deliver(_ block: EncodedBlock) {
        state.withLock { s in
            let d = block.tokens.embeddingWidth
            for row in 0..<block.count {
                s.tokens.append(Received(info: block.infos[row],
                                         embedding: Array(block.tokens.embeddings[(row * d)..<((row + 1) * d)])))
            }
        }
    }

    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        state.withLock { s in
            s.events.append((kind, at, count))
            s.messages.append(message)
        }
    }

    func ended(totalTokens: UInt64) {
        let waiters = state.withLock { s in
            s.ended = totalTokens
            defer { s.endWaiters.removeAll() }
            return s.endWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the stream has ended (for tests that run real compute threads).
    func untilEnded() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended: Bool = state.withLock { s in
                if s.ended != nil { return true }
                s.endWaiters.append(continuation)
                return false
            }
            if ended { continuation.resume() }
        }
    }

    var tokens: [Received] { state.withLock { $0.tokens } }
    var endedCount: UInt64? { state.withLock { $0.ended } }
    var events: [(EventKind, Int64, UInt64)] { state.withLock { $0.events } }
    var messages: [String] { state.withLock { $0.messages } }
}

/// The worst absolute difference between two equally long arrays (infinity if the lengths differ).
func worstDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
