import ClientSessions
import EarshotTypes
import Foundation
import GRPCCore
import Logging
import Synchronization

/// The limits a gRPC call lives under: the socket's, so both transports queue alike. (How many calls are served at
/// once is the session layer's `max-clients`, shared with the socket; one more is RESOURCE_EXHAUSTED.)
package struct GRPCCallLimits: Sendable, Equatable {
    /// Live tokens a call's queue holds before its subscription is skipped (the socket's `sendQueueFrames`).
    package var liveQueueTokens = 1024
    /// Undroppable responses a call may leave unread before it is ended with RESOURCE_EXHAUSTED.
    package var maxUnreadResponses = 8192
    /// How long a Push may go without sending its `start` (the socket's idle timeout); DEADLINE_EXCEEDED after.
    package var startTimeout: Duration = .seconds(300)
    /// How long calls may take to finish once the daemon stops (the socket's drain timeout): a Push stops reading,
    /// its stream flushes the audio it took, its tokens are written, then UNAVAILABLE; a Subscribe writes what is
    /// queued, then UNAVAILABLE. A call still running after this ends with UNAVAILABLE at once.
    package var drainTimeout: Duration = .seconds(1)

    package init() {}
}

/// `earshot.v1.Earshot`: Push, Subscribe and Status, a framing adapter over the session layer (``SessionHost``).
///
/// Each Push or Subscribe call is one client session, with an ``Outbox`` that the session fills from compute threads
/// and one writer drains in order. Push reads the caller's audio on a child task while the handler writes; the push
/// budget suspends ``PushedStream/append(_:)`` when the caller does not read, which stops reading its audio
/// (HTTP/2 flow control then holds the caller), as the socket does.
///
/// ``stop()`` (the daemon stops) drains the calls within ``GRPCCallLimits/drainTimeout`` and ends each with
/// UNAVAILABLE (a call that was complete already ends OK); calls that arrive after it are UNAVAILABLE at once.
package struct EarshotService: Earshot_V1_Earshot.SimpleServiceProtocol {
    private let sessions: any SessionHost
    private let limits: GRPCCallLimits
    private let logger: Logger
    private let calls = StopGate()   // turns calls away once the daemon stops

    package init(sessions: any SessionHost, limits: GRPCCallLimits = GRPCCallLimits(), logger: Logger) {
        self.sessions = sessions
        self.limits = limits
        self.logger = logger
    }

    /// The daemon stops: running calls drain (``GRPCCallLimits/drainTimeout``) and end UNAVAILABLE; new ones are
    /// refused UNAVAILABLE.
    package func stop() { calls.stop() }

    /// Opens a Push or Subscribe call's session: refused while the daemon stops, or past `max-clients` (the
    /// session layer counts both with the socket's refusals).
    private static func open(_ sessions: any SessionHost, gate: StopGate, outbox: Outbox<CallItem>, peer: String,
                             name: @escaping @Sendable () -> String) throws(RPCError) -> any ClientSession {
        do {
            try gate.admit()
            return try sessions.admit(ClientDescription(transport: .grpc, peer: peer), limits: .oneCall) {
                ClientActivity(name: name(), queuedFrames: outbox.pendingCount, droppedFrames: outbox.droppedTotal)
            }
        } catch {
            if error.reason == .shuttingDown { sessions.refused(reason: error.reason.name) }
            throw error.rpcError
        }
    }

    /// How a call ends when the daemon stops under it.
    private static let stopping = RPCError(code: .unavailable, message: "the daemon is stopping")

    // MARK: Status

    package func status(request: Earshot_V1_StatusRequest, context: ServerContext) async throws
        -> Earshot_V1_StatusResponse {
        Earshot_V1_StatusResponse.with { $0.json = sessions.statusJSON() }
    }

    // MARK: Subscribe

    package func subscribe(request: Earshot_V1_SubscribeRequest, response: RPCWriter<Earshot_V1_SubscribeResponse>,
                           context: ServerContext) async throws {
        let parameters = try SubscribeRequest(request)
        let outbox = CallItem.outbox(limits)
        defer { outbox.close() }
        let session = try Self.open(sessions, gate: calls, outbox: outbox, peer: context.remotePeer) {
            "grpc Subscribe \(parameters.stream)"
        }
        defer { session.close() }
        let subscription: any Subscription
        do {
            subscription = try session.subscribe(parameters, receiver: CallItem.receiver(outbox), announce: { _ in })
        } catch {
            throw error.rpcError
        }
        logger.debug("grpc subscribe", metadata: ["stream": "\(parameters.stream)", "peer": "\(context.remotePeer)"])
        try await response.write(.with {
            $0.started = Self.started(stream: subscription.stream, firstToken: subscription.firstToken,
                                      width: sessions.model.width(of: parameters.output),
                                      samplesPerToken: sessions.model.samplesPerToken)
        })
        outbox.open()
        let gate = calls, drainTimeout = limits.drainTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The daemon stops: what is queued is written, then UNAVAILABLE (at once after the drain timeout). The
            // live sources stop first, so a subscriber usually has its `ended` and ends OK.
            group.addTask {
                await gate.untilStopped()
                guard !Task.isCancelled else { return }
                outbox.failAfterQueued(Self.stopping)
                try await Task.sleep(for: drainTimeout)
                outbox.fail(Self.stopping)
            }
            defer { group.cancelAll() }
            try await Self.drain(outbox, session: session, payload: { parameters.payload },
                                 output: { parameters.output }) { item in
                try await response.write(.with {
                    switch item {
                    case .token(let token): $0.token = token
                    case .event(let event): $0.event = event
                    }
                })
            }
        }
    }

    // MARK: Push

    package func push(request: RPCAsyncSequence<Earshot_V1_PushRequest, any Error>,
                      response: RPCWriter<Earshot_V1_PushResponse>, context: ServerContext) async throws {
        let outbox = CallItem.outbox(limits)
        let call = PushCall()
        let session = try Self.open(sessions, gate: calls, outbox: outbox, peer: context.remotePeer) {
            "grpc Push" + (call.parameters.map { $0.label.isEmpty ? "" : " \($0.label)" } ?? "")
        }
        defer {
            call.cancel()
            outbox.close()
            session.close()
        }
        let model = sessions.model
        let gate = calls, startTimeout = limits.startTimeout, drainTimeout = limits.drainTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Reads `start`, starts the stream, writes `started`, then feeds the audio until the caller half-closes
            // or the daemon stops; then the stream flushes what it took.
            group.addTask {
                do {
                    let stopped = try await gate.unlessStopped {
                        try await Self.readPush(request, session: session, model: model, call: call,
                                                outbox: outbox) { started in
                            try await response.write(.with { $0.started = started })
                        }
                    }
                    if stopped && !call.finishEarly() { outbox.fail(Self.stopping) }
                } catch {
                    outbox.fail(Self.rpcError(error))
                }
            }
            // The socket's idle rule before a stream exists: `start` must come within the idle timeout.
            group.addTask {
                do {
                    try await Task.sleep(for: startTimeout)
                } catch {
                    return
                }
                if !call.hasStarted {
                    outbox.fail(RPCError(code: .deadlineExceeded,
                                         message: "no start within \(startTimeout) (the idle timeout)"))
                }
            }
            // The daemon stops: the flush has the drain timeout, then the call ends UNAVAILABLE.
            group.addTask {
                await gate.untilStopped()
                guard !Task.isCancelled else { return }
                try await Task.sleep(for: drainTimeout)
                outbox.fail(Self.stopping)
            }
            defer { group.cancelAll() }
            do {
                // Items appear only after `started` is written (the reader opens the outbox).
                try await Self.drain(outbox, session: session, payload: { call.parameters?.payload ?? .f32 },
                                     output: { call.parameters?.output ?? .embeddings }) { item in
                    try await response.write(.with {
                        switch item {
                        case .token(let token): $0.token = token
                        case .event(let event): $0.event = event
                        }
                    })
                }
            } catch {
                call.cancel()       // wakes an append waiting on the push budget
                throw error
            }
            // Every token of the audio taken was written, but the caller's audio was cut short.
            if call.endedEarly { throw Self.stopping }
        }
    }

    /// The reading half of Push.
    private static func readPush(_ request: RPCAsyncSequence<Earshot_V1_PushRequest, any Error>,
                                 session: any ClientSession, model: SessionModel, call: PushCall,
                                 outbox: Outbox<CallItem>,
                                 writeStarted: (Earshot_V1_Started) async throws -> Void) async throws {
        var requests = request.makeAsyncIterator()
        guard let first = try await requests.next() else {
            throw RPCError(code: .invalidArgument, message: "the push ended before its start")
        }
        guard case .start(let start)? = first.request else {
            throw RPCError(code: .invalidArgument, message: "the first request of a push must be start")
        }
        let parameters = try PushRequest(start)
        let name = parameters.label.isEmpty ? "grpc push" : "grpc push \(parameters.label)"
        let stream: any PushedStream
        do {
            stream = try session.startPush(parameters, name: name, receiver: CallItem.receiver(outbox))
        } catch {
            throw error.rpcError
        }
        guard call.begin(stream, parameters) else { return }      // the call already ended
        try await writeStarted(started(stream: parameters.label, firstToken: 0,
                                       width: model.width(of: parameters.output),
                                       samplesPerToken: model.samplesPerToken))
        outbox.open()
        let frameBytes = parameters.frameBytes
        while let message = try await requests.next() {
            switch message.request {
            case .audio(let data):
                guard data.count % frameBytes == 0 else {
                    throw RPCError(code: .invalidArgument,
                                   message: "audio must be whole frames of \(frameBytes) bytes; got \(data.count) bytes")
                }
                if data.isEmpty { continue }
                await stream.append([UInt8](data)[...])
                try Task.checkCancellation()
            case .start:
                throw RPCError(code: .invalidArgument, message: "a push takes one start")
            case nil:
                throw RPCError(code: .invalidArgument, message: "a request with neither start nor audio")
            }
        }
        stream.finish()
    }

    // MARK: Shared

    private enum Written {
        case token(Earshot_V1_Token)
        case event(Earshot_V1_Event)
    }

    /// Writes the call's items until `ended`; each token is told to the session once written (its latency, its
    /// credit).
    private static func drain(_ outbox: Outbox<CallItem>, session: any ClientSession, payload: () -> PayloadType,
                              output: () -> OutputKind, write: (Written) async throws -> Void) async throws {
        while let item = try await next(outbox) {
            switch item {
            case .token(let token):
                try await session.send(token) {
                    try await write(.token(Earshot_V1_Token(token, payload: payload(), output: output())))
                }
            case .event(let event):
                try await write(.event(Earshot_V1_Event(event)))
                if event.kind == .ended { return }
            }
        }
    }

    /// The call's next item; an outbox that overflowed ends the call RESOURCE_EXHAUSTED.
    private static func next(_ outbox: Outbox<CallItem>) async throws -> CallItem? {
        do {
            return try await outbox.next()
        } catch let overflow as OutboxOverflow {
            throw RPCError(code: .resourceExhausted, message: "the caller left \(overflow.hardLimit) responses unread")
        }
    }

    private static func started(stream: String, firstToken: UInt64, width: Int,
                                samplesPerToken: Int) -> Earshot_V1_Started {
        .with {
            $0.stream = stream
            $0.firstToken = firstToken
            $0.width = UInt32(width)
            $0.sampleRate = 16000
            $0.samplesPerToken = UInt32(samplesPerToken)
        }
    }

    private static func rpcError(_ error: any Error) -> any Error {
        switch error {
        case let error as RPCError: error
        case let error as SessionRefusal: error.rpcError
        case is CancellationError: RPCError(code: .cancelled, message: "the call was cancelled")
        default: RPCError(code: .internalError, message: "\(error)")
        }
    }
}

/// The pushed stream of one Push call, shared by its reader, its writer and its end.
private final class PushCall: Sendable {
    private struct State {
        var stream: (any PushedStream)?
        var parameters: PushRequest?
        var ended = false
        /// The daemon stopped before the caller half-closed: the stream was finished for it.
        var endedEarly = false
    }

    private let state = Mutex(State())

    var hasStarted: Bool { state.withLock { $0.stream != nil } }
    var parameters: PushRequest? { state.withLock { $0.parameters } }

    /// Records the stream; false (and the stream is cancelled) if the call ended meanwhile.
    func begin(_ stream: any PushedStream, _ parameters: PushRequest) -> Bool {
        let accepted = state.withLock { s in
            guard !s.ended else { return false }
            s.stream = stream
            s.parameters = parameters
            return true
        }
        if !accepted { stream.cancel() }
        return accepted
    }

    var endedEarly: Bool { state.withLock { $0.endedEarly } }

    /// The daemon stops while the caller still sends: finishes the stream (it flushes the audio it took, then
    /// `ended`). False if there is no stream to finish (no `start` yet, or the call has ended).
    func finishEarly() -> Bool {
        let stream: (any PushedStream)? = state.withLock { s in
            guard let stream = s.stream, !s.ended else { return nil }
            s.endedEarly = true
            return stream
        }
        stream?.finish()
        return stream != nil
    }

    /// The call is over: cancels the stream (harmless after `ended`).
    func cancel() {
        let stream = state.withLock { s in
            s.ended = true
            return s.stream
        }
        stream?.cancel()
    }
}
