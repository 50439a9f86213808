import EncodingScheduler
import Foundation
import Logging
import NIOCore
import Synchronization
import WireProtocol

/// Who is on the other end of a connection (SO_PEERCRED).
package struct PeerCredentials: Sendable, CustomStringConvertible {
    package var pid: Int32
    package var uid: UInt32
    package var gid: UInt32

    package var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// One client: a reader (this task) that decodes frames and acts on them through a ``ConnectionStateMachine``, and
/// a writer (a child task) that drains the connection's ``ClientOutbox`` onto the socket.
///
/// The reader stops at end of input, at a fatal protocol error, when a watchdog timer finds a
/// ``ConnectionDeadlines`` deadline passed, or when the server stops (the last two shut the socket's input). Then it lets pushed streams flush, queues a last error if there is one, and lets the writer drain. A
/// stopping server, or a fatal error, also schedules a hard close after `drainTimeout`, so a client that does not
/// read cannot hold the daemon up.
final class Connection: Sendable {
    let id: Int
    private let engine: Engine
    private let configuration: ServerConfiguration
    private let logger: Logger
    let outbox: ClientOutbox
    private let channel: any Channel
    private let pushes: PushTracker
    private let stopping = Atomic<Bool>(false)
    private let status: @Sendable () -> DaemonStatus
    /// Live subscriptions held now, and the client's name from its `hello`, for status.
    private let subscriptionCount = Atomic<Int>(0)
    private let clientName = Mutex("")
    private let deadlines: Mutex<ConnectionDeadlines>
    /// Set by the watchdog when a deadline passed; the reader sends it as a fatal error.
    private let timedOut = Mutex<ProtocolError?>(nil)

    init(id: Int, channel: any Channel, engine: Engine, configuration: ServerConfiguration, logger: Logger,
         status: @escaping @Sendable () -> DaemonStatus) {
        self.id = id
        self.channel = channel
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.status = status
        pushes = PushTracker(engine: engine)
        deadlines = Mutex(ConnectionDeadlines(hello: configuration.helloTimeout, idle: configuration.idleTimeout,
                                              connectedAt: .now))
        outbox = ClientOutbox(liveCapacity: configuration.sendQueueFrames, hardLimit: configuration.sendQueueHardLimit)
    }

    /// The server is stopping: stop reading, flush, say goodbye, and close within `drainTimeout`.
    func beginShutdown() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        channel.close(mode: .input, promise: nil)
        scheduleHardClose()
    }

    private func scheduleHardClose() {
        let channel = self.channel
        let outbox = self.outbox
        channel.eventLoop.scheduleTask(in: TimeAmount(configuration.drainTimeout)) {
            outbox.close()
            channel.close(promise: nil)
        }
    }

    /// Sends one fatal error without reading anything (too many clients, peer not allowed), then closes.
    static func refuse(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ error: ProtocolError) async {
        _ = try? await channel.executeThenClose { inbound, outbound in
            // Answer the client's hello rather than race it: refused at once, a client still writing its hello
            // meets a closed socket (EPIPE) and never reads why. Wait for its first bytes, at most a second.
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var bytes = inbound.makeAsyncIterator()
                    _ = try? await bytes.next()
                }
                group.addTask { try? await Task.sleep(for: .seconds(1)) }
                await group.next()
                group.cancelAll()
            }
            let frame = ServerMessage.error(ErrorMessage(code: error.code, fatal: true, message: error.message)).encoded()
            try await outbound.write(ByteBuffer(bytes: frame))
        }
    }

    /// Serves the connection until it is over.
    func run(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.writeLoop(outbound) }
                    let watchdog = self.startWatchdog()
                    let fatal = await self.readLoop(inbound)
                    watchdog.cancel()
                    await self.wrapUp(fatal: fatal)
                    await group.waitForAll()
                }
            }
        } catch {
            logger.debug("connection closed with an error", metadata: ["connection": "\(id)", "error": "\(error)"])
        }
        pushes.cancelAll()
    }

    // MARK: Reading

    /// Per-connection reader state.
    private struct PushState {
        let scheduled: ScheduledStream
        var decoder: PushedAudioDecoder
    }

    /// Reads and acts until the input ends or a fatal error; returns the fatal error, if any.
    private func readLoop(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) async -> ProtocolError? {
        var decoder = FrameDecoder(maxFrameLength: configuration.maxFrameLength)
        var machine = ConnectionStateMachine(liveStreams: Set(engine.liveStreams.map(\.name)),
                                             payloadTypes: Set(configuration.payloadTypes),
                                             maxPushedStreams: configuration.maxPushedStreams,
                                             maxSubscriptions: configuration.maxSubscriptions,
                                             voiceActivity: engine.voiceActivityIsOn)
        var open: [UInt32: PushState] = [:]
        var subscriptions: [UInt32: (hub: StreamHub, subscriber: OutboxSubscriber)] = [:]
        defer {
            for (_, s) in subscriptions { s.hub.unsubscribe(s.subscriber, reason: "connection closing") }
            subscriptionCount.store(0, ordering: .relaxed)
            // Audio pushed without pushEnd is flushed at end of input, as if pushEnd had come.
            for (_, push) in open { push.scheduled.finish() }
        }
        do {
            reading: for try await buffer in inbound {
                deadlines.withLock { $0.readerBusy() }
                buffer.withUnsafeReadableBytes { decoder.append($0) }
                while true {
                    let action: ConnectionStateMachine.Action
                    do {
                        guard let frame = try decoder.next() else { break }
                        do {
                            action = machine.received(try ClientMessage(frame: frame))
                        } catch {
                            action = machine.decodingFailed(error)
                        }
                    } catch {
                        action = machine.decodingFailed(error)
                    }
                    switch action {
                    case .welcome(let version, let name):
                        deadlines.withLock { $0.helloCompleted() }
                        clientName.withLock { $0 = name }   // bounded by the decoder (ClientText)
                        outbox.push(.message(.welcome(welcome(version: version))))
                    case .subscribe(let id, let m):
                        guard let stream = engine.liveStream(named: m.stream) else { continue }
                        let subscriber = OutboxSubscriber(outbox: outbox, hub: stream.hub, stream: id,
                                                          payload: m.payload, output: m.output, options: m.options)
                        let outbox = self.outbox
                        _ = stream.hub.subscribe(subscriber, start: m.start) { first in
                            outbox.push(.message(.subscribed(request: m.request, stream: id, name: m.stream,
                                                             firstToken: first)))
                        }
                        subscriptions[id] = (stream.hub, subscriber)
                        subscriptionCount.store(subscriptions.count, ordering: .relaxed)
                    case .unsubscribe(let id, _):
                        if let s = subscriptions.removeValue(forKey: id) {
                            s.hub.unsubscribe(s.subscriber, reason: "unsubscribed")
                        }
                        subscriptionCount.store(subscriptions.count, ordering: .relaxed)
                    case .startPush(let id, let m):
                        let sink = PushedStreamSink(
                            receiver: OutboxPushReceiver(outbox: outbox, stream: id, payload: m.payload,
                                                         output: m.output),
                            options: m.options) { [pushes] _ in pushes.ended(id) }
                        do {
                            let label = m.label.isEmpty ? "" : " \(m.label)"
                            let scheduled = try engine.startPush(label: "push \(self.id).\(id)\(label)",
                                                                 inputRate: Int(m.sampleRate), sink: sink)
                            sink.attach(scheduled)
                            pushes.started(id, scheduled)
                            open[id] = PushState(scheduled: scheduled,
                                                 decoder: PushedAudioDecoder(format: m.format.sampleFormat,
                                                                             channels: Int(m.channels)))
                            outbox.push(.message(.pushStarted(request: m.request, stream: id)))
                        } catch {
                            outbox.push(.message(.error(ErrorMessage(request: m.request, code: .badAudioFormat,
                                                                     fatal: false, message: "\(error)"))))
                        }
                    case .pushAudio(let id, let pcm, _):
                        guard let scheduled = open[id]?.scheduled, !pcm.isEmpty,
                              let mono = open[id]?.decoder.mono(pcm) else { continue }
                        await scheduled.submitPushed(mono)   // backpressure: waits while the budget is used up
                    case .endPush(let id):
                        open.removeValue(forKey: id)?.scheduled.finish()
                    case .pong(let nonce):
                        outbox.push(.message(.pong(nonce: nonce, serverTimeNanoseconds: engine.clock.wallNanoseconds())))
                    case .status(let request):
                        outbox.push(.message(.status(request: request, json: statusJSON())))
                    case .reject(let request, let error):
                        outbox.push(.message(.error(ErrorMessage(request: request, code: error.code, fatal: false,
                                                                 message: error.message))))
                    case .fail(let request, let error):
                        engine.clients.refused(reason: error.code.name)
                        logger.info("closing a client that broke the protocol", metadata: [
                            "connection": "\(self.id)", "error": "\(error)"])
                        outbox.push(.message(.error(ErrorMessage(request: request, code: error.code, fatal: true,
                                                                 message: error.message))))
                        for (_, push) in open { push.scheduled.cancel() }
                        open.removeAll()
                        return error
                    case .ignore:
                        break
                    }
                    if stopping.load(ordering: .relaxed) { break reading }
                }
                let partial = decoder.bufferedByteCount > 0, subscribed = machine.subscriptions.count
                deadlines.withLock { $0.readerWaiting(at: .now, partialFrame: partial, subscriptions: subscribed) }
            }
        } catch {
            logger.debug("read failed", metadata: ["connection": "\(id)", "error": "\(error)"])
        }
        machine.close()
        if let error = timedOut.withLock({ $0 }) {
            logger.info("closing a client that timed out", metadata: ["connection": "\(id)", "error": "\(error)"])
            engine.clients.refused(reason: error.code.name)
            outbox.push(.message(.error(ErrorMessage(code: error.code, fatal: true, message: error.message))))
            for (_, push) in open { push.scheduled.cancel() }
            open.removeAll()
            return error
        }
        return nil
    }

    /// Checks the ``ConnectionDeadlines`` on the channel's event loop every quarter of the shortest timeout (10 ms
    /// to 1 s) and, once one has passed, closes the connection's input (the reader then says why). A timer on the
    /// event loop, not a task: cancelled by the reader when it is done.
    private func startWatchdog() -> RepeatedTask {
        let shortest = min(configuration.helloTimeout, configuration.idleTimeout)
        let tick = max(.milliseconds(10), min(.seconds(1), shortest / 4))
        let interval = TimeAmount(tick)
        return channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let pushing = self.pushes.activeCount
            guard let error = self.deadlines.withLock({ $0.expired(at: .now, activePushes: pushing) }) else { return }
            self.timedOut.withLock { $0 = error }
            self.channel.close(mode: .input, promise: nil)
            task.cancel()
        }
    }

    /// After reading: wait for pushed streams to flush, queue the last error, let the writer drain.
    private func wrapUp(fatal: ProtocolError?) async {
        if fatal != nil {
            scheduleHardClose()
        } else {
            let limit: Duration = stopping.load(ordering: .relaxed) ? configuration.drainTimeout : .seconds(60)
            if !(await pushes.waitUntilAllEnded(timeout: limit)) {
                logger.warning("pushed streams did not flush in time", metadata: ["connection": "\(id)"])
            }
            if stopping.load(ordering: .relaxed) {
                outbox.push(.message(.error(ErrorMessage(code: .shuttingDown, fatal: true,
                                                         message: "the server is stopping"))))
            }
        }
        outbox.finish()
    }

    // MARK: Writing

    private func writeLoop(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        do {
            while let item = await outbox.next() {
                switch item {
                case .live(let stream, let record, let payload, let output, let replayed):
                    try await outbound.write(ByteBuffer(bytes: record.frame(stream: stream, payload: payload,
                                                                             output: output)))
                    if !replayed { engine.tokenSent(record.info) }
                case .pushed(let stream, let record, let payload, let output, let credit):
                    defer { credit.tokenSent() }
                    try await outbound.write(ByteBuffer(bytes: record.frame(stream: stream, payload: payload,
                                                                             output: output)))
                    engine.tokenSent(record.info)
                case .message(let message):
                    try await outbound.write(ByteBuffer(bytes: message.encoded()))
                    if case .error(let e) = message, e.fatal {
                        outbox.close()
                        return
                    }
                }
            }
            if outbox.overflowed {
                // The client sends requests or pushes but never reads their answers: it cannot be served.
                logger.notice("closing a client that does not read its answers", metadata: ["connection": "\(id)"])
                engine.clients.refused(reason: "not-reading")
                pushes.cancelAll()
                channel.close(promise: nil)
            }
        } catch {
            // The peer is gone: nobody will read what is queued.
            outbox.close()
            pushes.cancelAll()
            channel.close(promise: nil)
        }
    }

    // MARK: Answers

    private func welcome(version: UInt16) -> Welcome {
        let c = engine.model.configuration
        return Welcome(version: version, serverName: configuration.serverName, modelID: engine.modelID,
                       embeddingWidth: UInt32(c.textHiddenSize), encoderWidth: UInt32(c.outputProjectionSize),
                       payloadTypes: configuration.payloadTypes, sampleRate: 16_000,
                       samplesPerToken: UInt32(TokenTimeline.samplesPerToken), tokensPerSecond: 25,
                       blockTokens: UInt16(engine.blockTokens), maxFrameLength: UInt32(configuration.maxFrameLength),
                       maxPushedStreams: UInt16(configuration.maxPushedStreams),
                       historyTokens: UInt32(engine.historyTokens), streams: engine.liveStreams.map(\.name))
    }

    private func statusJSON() -> String {
        StatusJSON.encode(status())
    }

    /// What this client is doing, for status.
    var activity: ClientRegistry.Activity {
        ClientRegistry.Activity(name: clientName.withLock { $0 }, subscriptions: subscriptionCount.load(ordering: .relaxed),
                                pushes: pushes.activeCount, queuedFrames: outbox.pendingCount,
                                droppedFrames: outbox.droppedTotal)
    }
}

/// The pushed streams of one connection that have not ended yet.
final class PushTracker: Sendable {
    private struct State {
        var active: [UInt32: ScheduledStream] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// Told of every stream that goes, for the life-time totals.
    private let engine: Engine

    init(engine: Engine) {
        self.engine = engine
    }

    /// Pushed streams not yet ended (flushing ones included).
    var activeCount: Int { state.withLock { $0.active.count } }

    func started(_ id: UInt32, _ stream: ScheduledStream) {
        state.withLock { $0.active[id] = stream }
    }

    func ended(_ id: UInt32) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            if let stream = s.active.removeValue(forKey: id) { engine.retire(stream) }
            guard s.active.isEmpty else { return [] }
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Forgets every stream still running (its client is gone); wakes producers waiting on their budget.
    func cancelAll() {
        let (streams, waiters) = state.withLock { s in
            defer { s.active.removeAll(); s.waiters.removeAll() }
            return (Array(s.active.values), s.waiters)
        }
        for stream in streams {
            stream.cancel()
            engine.retire(stream)
            (stream.sink as? PushedStreamSink)?.detach()
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until no pushed stream is active; false if `timeout` passed first.
    func waitUntilAllEnded(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done: Bool = self.state.withLock { s in
                        if s.active.isEmpty { return true }
                        s.waiters.append(continuation)
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
            if !first {
                // Release the waiter still parked in the first task.
                let waiters = state.withLock { s in defer { s.waiters.removeAll() }; return s.waiters }
                for waiter in waiters { waiter.resume() }
            }
            return first
        }
    }
}
