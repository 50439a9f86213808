import ClientSessions
@testable import EncodingScheduler
import Gemma4Audio
import Synchronization
import Testing
@testable import EarshotServer
import WireProtocol

/// A pushed stream's tokens go to its connection's outbox, never dropped, and give the push budget back as written.
@Suite struct PushedStreamSinkTests {
    let model = Fixtures.tiny

    /// A pushed stream that ended and whose frames were written leaves nothing behind: the scheduler forgets it,
    /// and the stream, its encoder and its sink are freed while the connection's outbox lives on.
    @Test func anEndedPushedStreamIsFreed() async throws {
        let s = Scheduler(model: model, configuration: SchedulerConfiguration(), clock: VirtualClock())
        let context = ComputeContext(for: s)
        let outbox = Outbox<SocketItem>(liveCapacity: 16, hardLimit: 1024)
        weak var freedStream: ScheduledStream?
        weak var freedSink: PushedStreamSink?
        weak var freedEncoder: (any StreamEncoder)?
        let ended = Flag()
        let audio = Array(try Fixtures.samples("speech")[0..<24_000])
        do {
            let receiver = SocketItem.receiver(outbox, stream: 1, payload: .f32, output: .embeddings)
            let sink = PushedStreamSink(receiver: PushDelivery(receiver: receiver)) { _ in
                ended.set(false)
            }
            let stream = try s.addStream(name: "push", kind: .pushed, inputRate: 16_000, sink: sink)
            sink.attach(stream)
            freedStream = stream
            freedSink = sink
            freedEncoder = stream.worker.encoder
            await stream.submitPushed(audio)
            stream.finish()
        }
        s.runUntilIdle(context)
        // The connection's writer: writes every frame (giving the push budget back) until the stream's `ended`.
        var tokens = 0
        writing: while let item = try await outbox.next() {
            switch item {
            case .token(_, let token, _, _):
                token.credit?.tokenSent()
                tokens += 1
            case .message(.event(let event)) where event.kind == .ended:
                break writing
            default:
                break
            }
        }
        #expect(tokens == model.encode(audio).count)
        #expect(!ended.value)
        s.runUntilIdle(context)   // the next turn forgets streams that are done
        #expect(s.activeStreams.isEmpty, "the scheduler still holds the ended stream")
        #expect(freedStream == nil, "the ended stream is still alive")
        #expect(freedSink == nil, "the ended stream's sink is still alive")
        #expect(freedEncoder == nil, "the ended stream's encoder is still alive")
    }

}

/// A Bool shared with a child task.
final class Flag: Sendable {
    private let state = Mutex(true)
    var value: Bool { state.withLock { $0 } }
    func set(_ value: Bool) { state.withLock { $0 = value } }
}
