import EarshotTypes
import EncodingScheduler
import Synchronization

/// The session layer on the daemon's engine: clients admitted through the engine's one ``ClientRegistry``,
/// subscriptions on the live streams' hubs, pushed streams on the scheduler.
package final class EngineSessions: SessionHost {
    private let engine: Engine
    package let model: SessionModel
    private let status: @Sendable () -> String

    /// - Parameters:
    ///   - payloads: the payload types offered.
    ///   - statusJSON: the status document, as the socket's `statusReport` carries it.
    package init(engine: Engine, payloads: [PayloadType], statusJSON: @escaping @Sendable () -> String) {
        self.engine = engine
        let facts = engine.facts
        model = SessionModel(id: engine.modelID, embeddingWidth: facts.embeddingWidth, encoderWidth: facts.encoderWidth,
                             samplesPerToken: facts.samplesPerToken, payloads: Set(payloads),
                             voiceActivity: engine.voiceActivityIsOn)
        status = statusJSON
    }

    package func statusJSON() -> String { status() }

    package func refused(reason: String) { engine.clients.refused(reason: reason) }

    package func admit(_ client: ClientDescription, limits: SessionLimits,
                       activity: @escaping @Sendable () -> ClientActivity) throws(SessionRefusal) -> any ClientSession {
        // The registry reads the session's activity, and the session needs the registry's id: a slot bridges them.
        let slot = Mutex<EngineClientSession?>(nil)
        let id: Int
        do {
            id = try engine.clients.admit(transport: client.transport, peer: client.peer) {
                slot.withLock { $0 }?.registryActivity ?? ClientRegistry.Activity()
            }
        } catch {
            throw SessionRefusal(.tooManyClients, "the server already serves \(engine.clients.maxClients) clients")
        }
        let session = EngineClientSession(id: id, engine: engine,
                                          checks: RequestChecks(model: model, limits: limits), activity: activity)
        slot.withLock { $0 = session }
        return session
    }
}

/// A push, not kept alive by whoever holds this.
private struct WeakPush {
    weak var push: EnginePush?
}

/// One admitted client on the engine.
final class EngineClientSession: ClientSession {
    private struct State {
        var subscriptions: [ObjectIdentifier: HubSubscription] = [:]
        var pushes: [ObjectIdentifier: EnginePush] = [:]
        /// Tasks waiting for every push to end.
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    /// The registry's id: the connection number in status and logs.
    let id: Int
    private let engine: Engine
    private let checks: RequestChecks
    private let activity: @Sendable () -> ClientActivity
    private let state = Mutex(State())

    init(id: Int, engine: Engine, checks: RequestChecks, activity: @escaping @Sendable () -> ClientActivity) {
        self.id = id
        self.engine = engine
        self.checks = checks
        self.activity = activity
    }

    var registryActivity: ClientRegistry.Activity {
        let transport = activity()
        let (subscriptions, pushes) = state.withLock { ($0.subscriptions.count, $0.pushes.count) }
        return ClientRegistry.Activity(name: transport.name, subscriptions: subscriptions, pushes: pushes,
                                       queuedFrames: transport.queuedFrames, droppedFrames: transport.droppedFrames)
    }

    // MARK: Subscriptions

    func subscribe(_ request: SubscribeRequest, receiver: any StreamReceiver,
                   announce: (UInt64) -> Void) throws(SessionRefusal) -> any Subscription {
        let held = try state.withLock { s throws(SessionRefusal) in
            guard !s.closed else { throw Self.gone }
            return s.subscriptions.count
        }
        try checks.check(request, liveStreams: engine.liveStreams.map(\.name), held: held)
        guard let stream = engine.liveStream(named: request.stream) else {
            throw SessionRefusal(.unknownStream, "no live stream named '\(request.stream)'")
        }
        let subscriber = ReceiverSubscriber(receiver: receiver, options: request.options)
        let subscription = HubSubscription(stream: request.stream, hub: stream.hub, subscriber: subscriber,
                                           session: self)
        state.withLock { $0.subscriptions[ObjectIdentifier(subscription)] = subscription }
        receiver.attach(subscription)
        subscription.firstToken = stream.hub.subscribe(subscriber, start: request.start, announce: announce)
        return subscription
    }

    fileprivate func forget(_ subscription: HubSubscription) {
        _ = state.withLock { $0.subscriptions.removeValue(forKey: ObjectIdentifier(subscription)) }
    }

    // MARK: Pushes

    func startPush(_ request: PushRequest, name: String, receiver: any StreamReceiver) throws(SessionRefusal)
        -> any PushedStream {
        // The limit counts streams still taking audio (as the socket always has): a flushing one is on its way out.
        let held = try state.withLock { s throws(SessionRefusal) in
            guard !s.closed else { throw Self.gone }
            return s.pushes.values.count { !$0.isFinished }
        }
        try checks.check(request, held: held)
        let engine = self.engine
        // Weak: the push holds the sink, which holds this closure.
        let ended = Mutex(WeakPush())
        let sink = PushedStreamSink(receiver: PushDelivery(receiver: receiver), options: request.options) {
            [weak self] stream in
            if let stream { engine.retire(stream) }
            if let push = ended.withLock({ $0.push }) { self?.pushEnded(push) }
        }
        let scheduled: ScheduledStream
        do {
            scheduled = try engine.startPush(label: name, inputRate: request.sampleRate, sink: sink)
        } catch {
            throw SessionRefusal(.badAudioFormat, "\(error)")
        }
        sink.attach(scheduled)
        let push = EnginePush(scheduled: scheduled, sink: sink, engine: engine, session: self,
                              decoder: PushedAudioDecoder(format: request.format, channels: request.channels))
        ended.withLock { $0.push = push }
        state.withLock { $0.pushes[ObjectIdentifier(push)] = push }
        return push
    }

    var activePushes: Int { state.withLock { $0.pushes.count } }

    func sent(_ token: SessionToken) {
        if !token.replayed { engine.tokenSent(token.info) }
        token.credit?.tokenSent()
    }

    /// A push ended (flushed) or was cancelled: wakes the waiters once none is left.
    fileprivate func pushEnded(_ push: EnginePush) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.pushes.removeValue(forKey: ObjectIdentifier(push))
            guard s.pushes.isEmpty else { return [] }
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func pushesEnded(within timeout: Duration) async -> Bool {
        let id = state.withLock { s in
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done: Bool = self.state.withLock { s in
                        if s.pushes.isEmpty { return true }
                        s.waiters[id] = continuation
                        return false
                    }
                    if done { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first { state.withLock { $0.waiters.removeValue(forKey: id) }?.resume() }
            return first
        }
    }

    // MARK: The end

    func close() {
        let held: ([HubSubscription], [EnginePush], [CheckedContinuation<Void, Never>])? = state.withLock { s in
            guard !s.closed else { return nil }
            s.closed = true
            defer { s.subscriptions.removeAll(); s.pushes.removeAll(); s.waiters.removeAll() }
            return (Array(s.subscriptions.values), Array(s.pushes.values), Array(s.waiters.values))
        }
        guard let (subscriptions, pushes, waiters) = held else { return }
        for subscription in subscriptions { subscription.remove() }
        for push in pushes { push.drop() }
        for waiter in waiters { waiter.resume() }
        engine.clients.left(id, droppedFrames: activity().droppedFrames)
    }

    private static let gone = SessionRefusal(.internalError, "the client has gone")
}

/// A subscription's hub subscriber: hands the hub's tokens and events to the client's receiver.
final class ReceiverSubscriber: StreamSubscriber {
    private let receiver: any StreamReceiver
    let options: StreamOptions

    init(receiver: any StreamReceiver, options: StreamOptions) {
        self.receiver = receiver
        self.options = options
    }

    func receive(_ token: TokenRecord, replayed: Bool) -> Bool {
        receiver.live(SessionToken(token, replayed: replayed))
    }

    func receive(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        receiver.event(EventInfo(kind, at: at, count: count, message: message))
    }
}

/// One live subscription on a stream's hub.
final class HubSubscription: Subscription {
    let stream: String
    private let hub: StreamHub
    private let subscriber: ReceiverSubscriber
    private weak let session: EngineClientSession?
    private let first = Atomic<UInt64>(0)

    init(stream: String, hub: StreamHub, subscriber: ReceiverSubscriber, session: EngineClientSession) {
        self.stream = stream
        self.hub = hub
        self.subscriber = subscriber
        self.session = session
    }

    var firstToken: UInt64 {
        get { first.load(ordering: .relaxed) }
        set { first.store(newValue, ordering: .relaxed) }
    }

    func cancel(reason: String) {
        hub.unsubscribe(subscriber, reason: reason)
        session?.forget(self)
    }

    /// The client is gone: no `ended`.
    func remove() { hub.remove(subscriber) }

    func resume(room: Int) { hub.resume(subscriber, room: room) }
}

/// A pushed stream's tokens and events, handed to the client's receiver (its outbox always takes a pushed token, or
/// releases its credit itself).
package final class PushDelivery: PushedStreamReceiver {
    private let receiver: any StreamReceiver

    package init(receiver: any StreamReceiver) { self.receiver = receiver }

    package func pushed(_ token: TokenRecord, credit: ScheduledStream) -> Bool {
        receiver.pushed(SessionToken(token, credit: credit))
        return true
    }

    package func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        receiver.event(EventInfo(kind, at: at, count: count, message: message))
    }
}

/// The client's side of a pushed stream.
final class EnginePush: PushedStream {
    private let scheduled: ScheduledStream
    private let sink: PushedStreamSink
    private let engine: Engine
    private weak let session: EngineClientSession?
    private let decoder: Mutex<PushedAudioDecoder>
    private let finished = Atomic(false)

    init(scheduled: ScheduledStream, sink: PushedStreamSink, engine: Engine, session: EngineClientSession,
         decoder: PushedAudioDecoder) {
        self.scheduled = scheduled
        self.sink = sink
        self.engine = engine
        self.session = session
        self.decoder = Mutex(decoder)
    }

    func append(_ pcm: ArraySlice<UInt8>) async {
        guard !pcm.isEmpty else { return }
        let mono = decoder.withLock { $0.mono(pcm) }
        await scheduled.submitPushed(mono)   // backpressure: waits while the budget is used up
    }

    func finish() {
        finished.store(true, ordering: .relaxed)
        scheduled.finish()
    }

    /// No more audio comes: the stream flushes, or has ended.
    var isFinished: Bool { finished.load(ordering: .relaxed) }

    func cancel() {
        drop()
        session?.pushEnded(self)
    }

    /// Drops the stream without flushing; harmless after the end (the sink has let go of it then).
    func drop() {
        scheduled.cancel()
        if sink.detach() != nil { engine.retire(scheduled) }
    }
}
