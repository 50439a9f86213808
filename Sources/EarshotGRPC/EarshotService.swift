import Foundation
import GRPCCore
import Logging
import Synchronization
import WireProtocol

/// The limits a gRPC call lives under: the socket's, so both transports admit and queue alike.
package struct GRPCCallLimits: Sendable, Equatable {
    /// Push and Subscribe calls at once (the socket's `maxClients`); one more is RESOURCE_EXHAUSTED.
    package var maxCalls = 64
    /// Live tokens a call's queue holds before dropping its oldest (the socket's `sendQueueFrames`).
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

/// `earshot.v1.Earshot`: Push, Subscribe and Status over an ``EmbeddingBackend``.
///
/// Each Push or Subscribe call holds a ``CallOutbox`` that the backend fills from compute threads and one writer
/// drains in order. Push reads the caller's audio on a child task while the handler writes; the backend's push
/// budget suspends ``PushedStream/append(_:)`` when the caller does not read, which stops reading its audio
/// (HTTP/2 flow control then holds the caller), as the socket does.
///
/// ``stop()`` (the daemon stops) drains the calls within ``GRPCCallLimits/drainTimeout`` and ends each with
/// UNAVAILABLE (a call that was complete already ends OK); calls that arrive after it are UNAVAILABLE at once.
package struct EarshotService: Earshot_V1_Earshot.SimpleServiceProtocol {
    private let backend: any EmbeddingBackend
    private let limits: GRPCCallLimits
    private let logger: Logger
    private let calls: CallGate

    package init(backend: any EmbeddingBackend, limits: GRPCCallLimits = GRPCCallLimits(), logger: Logger) {
        self.backend = backend
        self.limits = limits
        self.logger = logger
        calls = CallGate(limit: limits.maxCalls)
    }

    /// The daemon stops: running calls drain (``GRPCCallLimits/drainTimeout``) and end UNAVAILABLE; new ones are
    /// refused UNAVAILABLE.
    package func stop() { calls.stop() }

    /// Admits a Push or Subscribe call; a refusal is counted by the backend (with the socket's) and thrown as its
    /// status.
    private func admit() throws(RPCError) {
        do {
            try calls.admit()
        } catch {
            backend.callRefused(error)
            throw error.rpcError
        }
    }

    /// How a call ends when the daemon stops under it.
    private static let stopping = RPCError(code: .unavailable, message: "the daemon is stopping")

    // MARK: Status

    package func status(request: Earshot_V1_StatusRequest, context: ServerContext) async throws
        -> Earshot_V1_StatusResponse {
        Earshot_V1_StatusResponse.with { $0.json = backend.statusJSON() }
    }

    // MARK: Subscribe

    package func subscribe(request: Earshot_V1_SubscribeRequest, response: RPCWriter<Earshot_V1_SubscribeResponse>,
                           context: ServerContext) async throws {
        try admit()
        defer { calls.leave() }
        let parameters = try SubscribeParameters(request)
        try check(payload: parameters.payload, options: parameters.options)
        let outbox = CallOutbox(liveCapacity: limits.liveQueueTokens, hardLimit: limits.maxUnreadResponses)
        defer { outbox.close() }
        let subscription: any BackendSubscription
        do {
            subscription = try backend.subscribe(parameters, receiver: outbox)
        } catch {
            throw error.rpcError
        }
        defer { subscription.cancel() }
        outbox.resumeWhenRoom { room in subscription.resume(room: room) }
        logger.debug("grpc subscribe", metadata: ["stream": "\(parameters.stream)", "peer": "\(context.remotePeer)"])
        try await response.write(.with {
            $0.started = Self.started(stream: subscription.stream, firstToken: subscription.firstToken,
                                      width: backend.model.width(of: parameters.output))
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
            try await Self.drain(outbox, payload: { parameters.payload }, output: { parameters.output }) { item in
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
        try admit()
        defer { calls.leave() }
        let outbox = CallOutbox(liveCapacity: limits.liveQueueTokens, hardLimit: limits.maxUnreadResponses)
        let call = PushCall()
        defer {
            call.cancel()
            outbox.close()
        }
        let backend = self.backend
        let gate = calls, startTimeout = limits.startTimeout, drainTimeout = limits.drainTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Reads `start`, starts the stream, writes `started`, then feeds the audio until the caller half-closes
            // or the daemon stops; then the stream flushes what it took.
            group.addTask {
                do {
                    let stopped = try await gate.unlessStopped {
                        try await Self.readPush(request, backend: backend, call: call, outbox: outbox) { started in
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
                try await Self.drain(outbox, payload: { call.parameters?.payload ?? .f32 },
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
                                 backend: any EmbeddingBackend, call: PushCall, outbox: CallOutbox,
                                 writeStarted: (Earshot_V1_Started) async throws -> Void) async throws {
        var requests = request.makeAsyncIterator()
        guard let first = try await requests.next() else {
            throw RPCError(code: .invalidArgument, message: "the push ended before its start")
        }
        guard case .start(let start)? = first.request else {
            throw RPCError(code: .invalidArgument, message: "the first request of a push must be start")
        }
        let parameters = try PushParameters(start)
        try check(payload: parameters.payload, options: parameters.options, model: backend.model)
        let stream: any PushedStream
        do {
            stream = try backend.startPush(parameters, receiver: outbox)
        } catch {
            throw error.rpcError
        }
        guard call.begin(stream, parameters) else { return }      // the call already ended
        try await writeStarted(started(stream: parameters.label, firstToken: 0,
                                       width: backend.model.width(of: parameters.output)))
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
                try await stream.append([UInt8](data))
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

    /// Writes the call's items until `ended`; releases each pushed token's credit once written.
    private static func drain(_ outbox: CallOutbox, payload: () -> PayloadType, output: () -> OutputKind,
                              write: (Written) async throws -> Void) async throws {
        while let item = try await outbox.next() {
            switch item {
            case .live(let token):
                try await write(.token(Earshot_V1_Token(token, payload: payload(), output: output())))
            case .pushed(let token, let credit):
                defer { credit.tokenSent() }
                try await write(.token(Earshot_V1_Token(token, payload: payload(), output: output())))
            case .event(let event):
                try await write(.event(Earshot_V1_Event(event)))
                if event.kind == .ended { return }
            }
        }
    }

    private static func started(stream: String, firstToken: UInt64, width: Int) -> Earshot_V1_Started {
        .with {
            $0.stream = stream
            $0.firstToken = firstToken
            $0.width = UInt32(width)
            $0.sampleRate = 16000
            $0.samplesPerToken = 640
        }
    }

    private func check(payload: PayloadType, options: StreamOptions) throws(RPCError) {
        try Self.check(payload: payload, options: options, model: backend.model)
    }

    /// What the model's facts decide before the backend is asked (the socket's `unsupported-payload` and
    /// `voice-activity-off`).
    private static func check(payload: PayloadType, options: StreamOptions, model: BackendModel) throws(RPCError) {
        guard model.payloads.contains(payload) else {
            throw RPCError(code: .invalidArgument, message: "payload \(payload) is not offered")
        }
        guard options.isEmpty || model.voiceActivity else {
            throw RPCError(code: .failedPrecondition, message: "voice activity is off on this daemon")
        }
    }

    private static func rpcError(_ error: any Error) -> any Error {
        switch error {
        case let error as RPCError: error
        case let error as BackendRefusal: error.rpcError
        case is CancellationError: RPCError(code: .cancelled, message: "the call was cancelled")
        default: RPCError(code: .internalError, message: "\(error)")
        }
    }
}

/// The pushed stream of one Push call, shared by its reader, its writer and its end.
private final class PushCall: Sendable {
    private struct State {
        var stream: (any PushedStream)?
        var parameters: PushParameters?
        var ended = false
        /// The daemon stopped before the caller half-closed: the stream was finished for it.
        var endedEarly = false
    }

    private let state = Mutex(State())

    var hasStarted: Bool { state.withLock { $0.stream != nil } }
    var parameters: PushParameters? { state.withLock { $0.parameters } }

    /// Records the stream; false (and the stream is cancelled) if the call ended meanwhile.
    func begin(_ stream: any PushedStream, _ parameters: PushParameters) -> Bool {
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
