import AudioCore
import ClientSessions
import EarshotTypes
import EncodingScheduler
import Foundation
import Gemma4Audio
import QueuePolicies
import Synchronization
import Testing

/// The session layer on a real engine (the tiny fixture model, real compute threads): one registry for every
/// transport, a push's whole life, a subscription's first answer, and what a client leaves behind.
@Suite struct EngineSessionsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let model = try! Gemma4AudioModel.load(path: "\(root)/models/tiny-f32")

    static func speech() throws -> [Float] {
        let (info, samples) = try WAV.read(path: "\(root)/cases/speech/input.wav")
        precondition(info.sampleRate == 16_000 && info.channels == 1)
        return samples
    }

    /// What a test transport queues: the session's deliveries, and the answer `announce` gives.
    enum Item: OutboxItem {
        case token(SessionToken)
        case event(EventInfo)
        case announced(UInt64)

        var isLive: Bool { if case .token(let t) = self { t.credit == nil } else { false } }
        var lostTokens: UInt64 { if case .event(let e) = self, e.kind == .lagged { e.count } else { 0 } }
        var credit: (any TokenCredit)? { if case .token(let t) = self { t.credit } else { nil } }
    }

    static func receiver(_ outbox: Outbox<Item>) -> OutboxReceiver<Item> {
        OutboxReceiver(outbox: outbox, live: { .token($0) }, pushed: { .token($0) }, event: { .event($0) })
    }

    func engine(maxClients: Int = 64) -> (Engine, EngineSessions) {
        let engine = Engine(model: Self.model, modelID: "tiny", scheduler: SchedulerConfiguration(), historyTokens: 64,
                            maxClients: maxClients)
        let sessions = EngineSessions(engine: engine, payloads: [.f32]) { "{}" }
        return (engine, sessions)
    }

    static let socket = ClientDescription(transport: .socket, peer: "pid 1")
    static let grpc = ClientDescription(transport: .grpc, peer: "127.0.0.1:1")

    /// A socket connection and a gRPC call count against the same `max-clients`; a session that closes gives its
    /// place back once, however often it is closed; status sees what each session holds.
    @Test func oneRegistryForEveryTransport() throws {
        let (engine, sessions) = engine(maxClients: 2)
        _ = try engine.addLiveStream(name: "mic", source: "test")
        let outbox = Outbox<Item>(liveCapacity: 8, hardLimit: 64)
        let a = try sessions.admit(Self.socket, limits: SessionLimits(subscriptions: 4, pushes: 4)) {
            ClientActivity(name: "a", queuedFrames: outbox.pendingCount, droppedFrames: 7)
        }
        let b = try sessions.admit(Self.grpc, limits: .oneCall) { ClientActivity() }
        #expect(throws: SessionRefusal(.tooManyClients, "the server already serves 2 clients")) {
            try sessions.admit(Self.grpc, limits: .oneCall) { ClientActivity() }
        }
        _ = try a.subscribe(SubscribeRequest(stream: "mic"), receiver: Self.receiver(outbox)) { _ in }
        let status = engine.status(.init(serverName: "t", socketPath: "/s"), protocolVersion: 1)
        #expect(status.connections.map(\.transport) == [.socket, .grpc])
        #expect(status.connections[0].name == "a" && status.connections[0].subscriptions == 1)
        #expect(status.totals.refusals == ["too-many-clients": 1])
        a.close()
        a.close()
        #expect(engine.clients.count == 1)
        #expect(engine.status(.init(serverName: "t", socketPath: "/s"), protocolVersion: 1).totals.laggedFrames == 7)
        _ = try sessions.admit(Self.socket, limits: .oneCall) { ClientActivity() }
        b.close()
        #expect(engine.clients.count == 1)
    }

    /// A refused request holds nothing: the limit counts only what was granted.
    @Test func refusedRequestsHoldNothing() throws {
        let (engine, sessions) = engine()
        _ = try engine.addLiveStream(name: "mic", source: "test")
        let outbox = Outbox<Item>(liveCapacity: 8, hardLimit: 64)
        let session = try sessions.admit(Self.socket, limits: SessionLimits(subscriptions: 1, pushes: 1)) {
            ClientActivity()
        }
        defer { session.close() }
        for request in [SubscribeRequest(stream: "line"), SubscribeRequest(stream: "mic", payload: .bf16)] {
            #expect(throws: SessionRefusal.self) {
                try session.subscribe(request, receiver: Self.receiver(outbox)) { _ in }
            }
        }
        let subscription = try session.subscribe(SubscribeRequest(stream: "mic"), receiver: Self.receiver(outbox)) { _ in }
        #expect(subscription.stream == "mic")
        #expect(throws: SessionRefusal(.tooManySubscriptions, "at most 1 subscriptions per connection")) {
            try session.subscribe(SubscribeRequest(stream: "mic"), receiver: Self.receiver(outbox)) { _ in }
        }
        subscription.cancel(reason: "done")
        _ = try session.subscribe(SubscribeRequest(stream: "mic"), receiver: Self.receiver(outbox)) { _ in }
    }

    /// A pushed stream through a session: its tokens equal the offline encoder's bit for bit, each holds its credit
    /// until written, `ended` counts them, and the stream is retired (status forgets it) with no credit left.
    @Test func aPushDeliversExactlyTheOfflineTokens() async throws {
        let (engine, sessions) = engine()
        engine.start()
        defer { _ = engine.stop() }
        let audio = try Self.speech()
        let expected = Self.model.encode(audio)
        let outbox = Outbox<Item>(liveCapacity: 8, hardLimit: 4096)
        let session = try sessions.admit(Self.socket, limits: .oneCall) { ClientActivity() }
        defer { session.close() }
        let f32le = audio.withUnsafeBufferPointer { PayloadType.f32.encoded($0) }
        let push = try session.startPush(PushRequest(format: .f32le, sampleRate: 16_000, channels: 1),
                                         name: "push test", receiver: Self.receiver(outbox))
        #expect(session.activePushes == 1)
        async let fed: Void = {
            for start in stride(from: 0, to: f32le.count, by: 4 * 4000) {
                await push.append(f32le[start..<min(f32le.count, start + 4 * 4000)])
            }
            push.finish()
        }()
        var values: [Float] = []
        var ended: EventInfo?
        while ended == nil, let item = try await outbox.next() {
            switch item {
            case .token(let token):
                #expect(token.credit != nil)
                try await session.send(token) { token.withValues(.embeddings) { values += $0 } }
            case .event(let event) where event.kind == .ended:
                ended = event
            default:
                break
            }
        }
        await fed
        #expect(values == expected.embeddings)
        #expect(ended?.count == UInt64(expected.count))
        #expect(await session.pushesEnded(within: .seconds(10)))
        #expect(session.activePushes == 0)
        #expect(!engine.status(.init(serverName: "t", socketPath: "/s"), protocolVersion: 1).streams
            .contains { $0.name == "push test" })
    }

    /// A client that goes away mid-push (its tokens queued, never written) leaves nothing: the outbox releases the
    /// credits, the session drops the stream, and the stream is freed.
    @Test func aClientThatGoesMidPushLeavesNothing() async throws {
        let (engine, sessions) = engine()
        engine.start()
        defer { _ = engine.stop() }
        let audio = Array(try Self.speech()[0..<24_000])
        let outbox = Outbox<Item>(liveCapacity: 8, hardLimit: 4096)
        let session = try sessions.admit(Self.socket, limits: .oneCall) { ClientActivity() }
        weak var freed: AnyObject?
        do {
            let push = try session.startPush(PushRequest(format: .f32le, sampleRate: 16_000, channels: 1),
                                             name: "gone", receiver: Self.receiver(outbox))
            freed = push as AnyObject
            await push.append(audio.withUnsafeBufferPointer { PayloadType.f32.encoded($0) }[...])
            push.finish()
        }
        // Wait until the flush has queued tokens the client will never read.
        for _ in 0..<500 where outbox.pendingCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(outbox.pendingCount > 0)
        outbox.close()
        session.close()
        #expect(engine.clients.count == 0)
        #expect(await session.pushesEnded(within: .seconds(5)))
        for _ in 0..<500 where freed != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(freed == nil, "the dropped push is still alive")
    }

    /// `announce` runs before anything is delivered: a socket's `subscribed` answer precedes the held tokens.
    @Test func theAnswerPrecedesTheHeldTokens() async throws {
        let (engine, sessions) = engine()
        engine.start()
        defer { _ = engine.stop() }
        let live = try engine.addLiveStream(name: "mic", source: "test")
        let audio = try Self.speech()
        _ = await live.submit(audio, firstSample: 0, wallNanoseconds: 0, delivery: .realTime)
        live.finish()
        let watcher = Outbox<Item>(liveCapacity: 4096, hardLimit: 64)
        let watching = try sessions.admit(Self.socket, limits: .oneCall) { ClientActivity() }
        _ = try watching.subscribe(SubscribeRequest(stream: "mic"), receiver: Self.receiver(watcher)) { _ in }
        while let item = try await watcher.next() {   // the stream plays out
            if case .event(let e) = item, e.kind == .ended { break }
        }
        let outbox = Outbox<Item>(liveCapacity: 4096, hardLimit: 64)
        let session = try sessions.admit(Self.socket, limits: .oneCall) { ClientActivity() }
        defer { session.close(); watching.close() }
        let subscription = try session.subscribe(SubscribeRequest(stream: "mic", start: .oldest),
                                                 receiver: Self.receiver(outbox)) { first in
            outbox.push(.announced(first))
        }
        var order: [String] = []
        while let item = try await outbox.next() {
            switch item {
            case .announced(let first): order.append("announced \(first)")
            case .token(let t): order.append(t.replayed ? "replayed" : "live")
            case .event(let e): order.append("\(e.kind)")
            }
            if case .event(let e) = item, e.kind == .ended { break }
        }
        let held = min(64, Self.model.encode(audio).count)
        #expect(order == ["announced \(subscription.firstToken)"] + Array(repeating: "replayed", count: held) + ["ended"])
    }
}
