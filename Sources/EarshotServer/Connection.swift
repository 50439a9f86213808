import ClientSessions
import EarshotTypes
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

/// What a connection needs besides its session: the server's configuration and the facts its answers carry.
struct ConnectionContext: Sendable {
    let configuration: ServerConfiguration
    let sessions: any SessionHost
    /// The `welcome` for a negotiated version.
    let welcome: @Sendable (_ version: UInt16) -> Welcome
    /// The server's wall clock, ns since the Unix epoch (for `pong`).
    let wallClock: @Sendable () -> Int64
    let logger: Logger
}

/// One client of the socket: a framing adapter over its ``ClientSession``. A reader (this task) decodes frames,
/// applies the protocol's rules (``ConnectionStateMachine``) and turns requests into session calls; a writer (a child
/// task) drains the session's deliveries and the answers from the connection's ``Outbox`` onto the socket.
///
/// The reader stops at end of input, at a fatal protocol error, when a watchdog timer finds a
/// ``ConnectionDeadlines`` deadline passed, or when the server stops (the last two shut the socket's input). Then it
/// lets pushed streams flush, queues a last error if there is one, and lets the writer drain. A stopping server, or
/// a fatal error, also schedules a hard close after `drainTimeout`, so a client that does not read cannot hold the
/// daemon up.
final class Connection: Sendable {
    let session: any ClientSession
    let outbox: Outbox<SocketItem>
    private let context: ConnectionContext
    private let channel: any Channel
    private let stopping = Atomic<Bool>(false)
    /// The client's name from its `hello`, for status.
    private let clientName = Mutex("")
    private let deadlines: Mutex<ConnectionDeadlines>
    /// Set by the watchdog when a deadline passed; the reader sends it as a fatal error.
    private let timedOut = Mutex<ProtocolError?>(nil)

    var id: Int { session.id }
    private var configuration: ServerConfiguration { context.configuration }
    private var logger: Logger { context.logger }

    init(session: any ClientSession, outbox: Outbox<SocketItem>, channel: any Channel, context: ConnectionContext) {
        self.session = session
        self.outbox = outbox
        self.channel = channel
        self.context = context
        let c = context.configuration
        deadlines = Mutex(ConnectionDeadlines(hello: c.helloTimeout, idle: c.idleTimeout, connectedAt: .now))
    }

    /// A connection's send queue, made before its session (the registry reads it for status).
    static func outbox(_ configuration: ServerConfiguration) -> Outbox<SocketItem> {
        Outbox(liveCapacity: configuration.sendQueueFrames, hardLimit: configuration.sendQueueHardLimit)
    }

    /// What this client is doing, for status.
    var activity: ClientActivity {
        ClientActivity(name: clientName.withLock { $0 }, queuedFrames: outbox.pendingCount,
                       droppedFrames: outbox.droppedTotal)
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
    }

    // MARK: Reading

    /// What the reader holds for the client: its subscriptions, and its pushed streams still taking audio.
    private struct Held {
        var subscriptions: [UInt32: any Subscription] = [:]
        var pushes: [UInt32: any PushedStream] = [:]

        /// End of input: every subscription ends (`ended`, "connection closing"), and audio pushed without `pushEnd`
        /// is flushed as if it had come.
        mutating func endOfInput() {
            for (_, subscription) in subscriptions { subscription.cancel(reason: "connection closing") }
            for (_, push) in pushes { push.finish() }
            self = Held()
        }

        /// A fatal error: pushed streams still taking audio are dropped.
        mutating func abandonPushes() {
            for (_, push) in pushes { push.cancel() }
            pushes.removeAll()
        }
    }

    /// Reads and acts until the input ends or a fatal error; returns the fatal error, if any.
    private func readLoop(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) async -> ProtocolError? {
        var decoder = FrameDecoder(maxFrameLength: configuration.maxFrameLength)
        var machine = ConnectionStateMachine()
        var held = Held()
        defer { held.endOfInput() }
        do {
            reading: for try await buffer in inbound {
                deadlines.withLock { $0.readerBusy() }
                buffer.withUnsafeReadableBytes { decoder.append($0) }
                while let action = Self.nextAction(&decoder, &machine) {
                    if let fatal = await perform(action, &machine, &held) {
                        held.abandonPushes()
                        return fatal
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
        guard let error = timedOut.withLock({ $0 }) else { return nil }
        logger.info("closing a client that timed out", metadata: ["connection": "\(id)", "error": "\(error)"])
        context.sessions.refused(reason: error.code.name)
        outbox.push(.message(.error(ErrorMessage(code: error.code, fatal: true, message: error.message))))
        held.abandonPushes()
        return error
    }

    /// The next complete frame's action; nil when no whole frame is buffered.
    private static func nextAction(_ decoder: inout FrameDecoder, _ machine: inout ConnectionStateMachine)
        -> ConnectionStateMachine.Action? {
        do {
            guard let frame = try decoder.next() else { return nil }
            do {
                return machine.received(try ClientMessage(frame: frame))
            } catch {
                return machine.decodingFailed(error)
            }
        } catch {
            return machine.decodingFailed(error)
        }
    }

    /// Does what `action` says; returns a fatal error that ends the connection.
    private func perform(_ action: ConnectionStateMachine.Action, _ machine: inout ConnectionStateMachine,
                         _ held: inout Held) async -> ProtocolError? {
        switch action {
        case .welcome(let version, let name):
            deadlines.withLock { $0.helloCompleted() }
            clientName.withLock { $0 = name }   // bounded by the decoder (ClientText)
            answer(.welcome(context.welcome(version)))
        case .subscribe(let m):
            subscribe(m, &machine, &held)
        case .unsubscribe(let id, _):
            held.subscriptions.removeValue(forKey: id)?.cancel(reason: "unsubscribed")
        case .startPush(let m):
            return startPush(m, &machine, &held)
        case .pushAudio(let id, let pcm):
            await held.pushes[id]?.append(pcm)   // backpressure: waits while the push budget is used up
        case .endPush(let id):
            held.pushes.removeValue(forKey: id)?.finish()
        case .pong(let nonce):
            answer(.pong(nonce: nonce, serverTimeNanoseconds: context.wallClock()))
        case .status(let request):
            answer(.status(request: request, json: context.sessions.statusJSON()))
        case .reject(let request, let error):
            answer(.error(ErrorMessage(request: request, code: error.code, fatal: false, message: error.message)))
        case .fail(let request, let error):
            return fail(request: request, error)
        case .ignore:
            break
        }
        return nil
    }

    private func subscribe(_ m: Subscribe, _ machine: inout ConnectionStateMachine, _ held: inout Held) {
        let id = machine.nextStreamID, outbox = self.outbox
        let request = SubscribeRequest(stream: m.stream, start: m.start, payload: m.payload, output: m.output,
                                       options: m.options)
        do {
            let receiver = SocketItem.receiver(outbox, stream: id, payload: m.payload, output: m.output)
            held.subscriptions[id] = try session.subscribe(request, receiver: receiver) { first in
                outbox.push(.message(.subscribed(request: m.request, stream: id, name: m.stream, firstToken: first)))
            }
            _ = machine.subscribed(m.stream)
        } catch {
            answer(.error(ErrorMessage(request: m.request, code: ErrorCode(error.reason), fatal: false,
                                       message: error.message)))
        }
    }

    /// Returns a fatal error when the client may not push more streams.
    private func startPush(_ m: PushStart, _ machine: inout ConnectionStateMachine, _ held: inout Held)
        -> ProtocolError? {
        let id = machine.nextStreamID
        let request = PushRequest(format: m.format.sampleFormat, sampleRate: Int(m.sampleRate),
                                  channels: Int(m.channels), payload: m.payload, output: m.output, label: m.label,
                                  options: m.options)
        do {
            let receiver = SocketItem.receiver(outbox, stream: id, payload: m.payload, output: m.output)
            let name = "push \(self.id).\(id)" + (m.label.isEmpty ? "" : " \(m.label)")
            held.pushes[id] = try session.startPush(request, name: name, receiver: receiver)
            _ = machine.pushStarted(frameBytes: request.frameBytes)
            answer(.pushStarted(request: m.request, stream: id))
            return nil
        } catch {
            let refusal = ProtocolError(ErrorCode(error.reason), error.message)
            guard error.reason == .tooManyPushes else {
                answer(.error(ErrorMessage(request: m.request, code: refusal.code, fatal: false,
                                           message: refusal.message)))
                return nil
            }
            machine.close()
            return fail(request: m.request, refusal)
        }
    }

    /// Sends a fatal error answering `request`; the connection ends with it.
    private func fail(request: UInt32, _ error: ProtocolError) -> ProtocolError {
        context.sessions.refused(reason: error.code.name)
        logger.info("closing a client that broke the protocol", metadata: ["connection": "\(id)", "error": "\(error)"])
        answer(.error(ErrorMessage(request: request, code: error.code, fatal: true, message: error.message)))
        return error
    }

    private func answer(_ message: ServerMessage) {
        outbox.push(.message(message))
    }

    /// Checks the ``ConnectionDeadlines`` on the channel's event loop every quarter of the shortest timeout (10 ms
    /// to 1 s) and, once one has passed, closes the connection's input (the reader then says why). A timer on the
    /// event loop, not a task: cancelled by the reader when it is done.
    private func startWatchdog() -> RepeatedTask {
        let shortest = min(configuration.helloTimeout, configuration.idleTimeout)
        let tick = max(.milliseconds(10), min(.seconds(1), shortest / 4))
        let interval = TimeAmount(tick)
        return channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let pushing = self.session.activePushes
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
            if !(await session.pushesEnded(within: limit)) {
                logger.warning("pushed streams did not flush in time", metadata: ["connection": "\(id)"])
            }
            if stopping.load(ordering: .relaxed) {
                answer(.error(ErrorMessage(code: .shuttingDown, fatal: true, message: "the server is stopping")))
            }
        }
        outbox.finish()
    }

    // MARK: Writing

    private func writeLoop(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        do {
            while let item = try await outbox.next() {
                switch item {
                case .token(let stream, let token, let payload, let output):
                    try await session.send(token) {
                        try await outbound.write(ByteBuffer(bytes: token.frame(stream: stream, payload: payload,
                                                                                output: output)))
                    }
                case .message(let message):
                    try await outbound.write(ByteBuffer(bytes: message.encoded()))
                    if case .error(let e) = message, e.fatal {
                        outbox.close()
                        return
                    }
                }
            }
        } catch is OutboxOverflow {
            // The client sends requests or pushes but never reads their answers: it cannot be served.
            logger.notice("closing a client that does not read its answers", metadata: ["connection": "\(id)"])
            context.sessions.refused(reason: "not-reading")
            session.close()
            channel.close(promise: nil)
        } catch {
            // The peer is gone: nobody will read what is queued.
            outbox.close()
            session.close()
            channel.close(promise: nil)
        }
    }
}
