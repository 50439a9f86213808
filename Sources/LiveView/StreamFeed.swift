import EarshotGRPC
import EarshotTypes
import Foundation
import WireProtocol

/// A WebSocket token feed on the session seam, as gRPC's `Subscribe` is (EarshotService.subscribe): admit (the
/// feeds' ``CallGate``, then the backend's client registry, shared with the socket and gRPC) → subscribe → drain the
/// call's ``CallOutbox`` (the shared ``SendQueue`` policy: a slow reader's live tokens are refused, the hub skips it,
/// and a `lagged` event marks the gap) → frames. `ended` ends the feed. The frames are ``FeedFrames``'.
struct StreamFeed: Sendable {
    let backend: any EmbeddingBackend
    let gate: CallGate
    let configuration: LiveViewConfiguration

    /// What the page asked for in the WebSocket URL's query.
    struct Request: Sendable {
        var parameters: SubscribeParameters

        /// Parses `start=now|oldest`, `output=embeddings|encoder`, `payload=f32`, `speech=all|only|off`.
        init(stream: String, query: [String: String]) throws(FeedRefusal) {
            var start = StartPoint.now, output = OutputKind.embeddings, options = StreamOptions()
            switch query["start"] {
            case nil, "now": break
            case "oldest": start = .oldest
            case let other?: throw FeedRefusal("badRequest", "start must be now or oldest, not '\(other)'")
            }
            switch query["output"] {
            case nil, "embeddings": break
            case "encoder": output = .encoder
            case let other?: throw FeedRefusal("badRequest", "output must be embeddings or encoder, not '\(other)'")
            }
            switch query["payload"] {
            case nil, "f32": break
            case let other?: throw FeedRefusal("badRequest", "payload must be f32 on a WebSocket, not '\(other)'")
            }
            switch query["speech"] {
            case nil, "off": break
            case "all": options = .speechEvents
            case "only": options = [.speechEvents, .speechOnly]
            case let other?: throw FeedRefusal("badRequest", "speech must be all, only or off, not '\(other)'")
            }
            parameters = SubscribeParameters(stream: stream, start: start, payload: .f32, output: output,
                                             options: options)
        }
    }

    /// Runs the feed until the stream ends, the daemon stops (then what is queued is sent first, within the drain
    /// timeout) or `send` throws (the browser went away). Returns how the WebSocket should close.
    func run(_ request: Request, send: @escaping @Sendable (FeedMessage) async throws -> Void) async -> FeedClose {
        do {
            try gate.admit()
        } catch {
            backend.callRefused(error)
            return .refused(FeedRefusal(error))
        }
        defer { gate.leave() }
        let parameters = request.parameters
        let outbox = CallOutbox(liveCapacity: configuration.liveQueueTokens, hardLimit: configuration.maxUnsentEvents)
        defer { outbox.close() }
        let subscription: any BackendSubscription
        do {
            subscription = try backend.subscribe(parameters, receiver: outbox)
        } catch {
            return .refused(FeedRefusal(error))
        }
        defer { subscription.cancel() }
        outbox.resumeWhenRoom { room in subscription.resume(room: room) }
        let gate = self.gate, drainTimeout = configuration.drainTimeout
        do {
            try await send(.text(FeedFrames.started(stream: subscription.stream, firstToken: subscription.firstToken,
                                                    width: backend.model.width(of: parameters.output),
                                                    output: parameters.output)))
            outbox.open()
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await gate.untilStopped()
                    guard !Task.isCancelled else { return }
                    outbox.failAfterQueued(DaemonStopping())
                    try await Task.sleep(for: drainTimeout)
                    outbox.fail(DaemonStopping())
                }
                defer { group.cancelAll() }
                while let item = try await outbox.next() {
                    switch item {
                    case .live(let token), .pushed(let token, _):
                        let bytes = token.values.encoded(as: .f32)
                        let header = bytes.withUnsafeBytes { raw in
                            FeedFrames.tokenHeader(index: token.index, firstSample: token.firstSample,
                                                   captureTimeNanoseconds: token.captureTimeNanoseconds,
                                                   flags: token.flags, values: raw.bindMemory(to: Float.self),
                                                   nowNanoseconds: Self.wallNanoseconds())
                        }
                        if case .pushed(_, let credit) = item { credit.tokenSent() }
                        try await send(.text(header))
                        try await send(.binary(bytes))
                    case .event(let event):
                        try await send(.text(FeedFrames.event(event)))
                        if event.kind == .ended { return .ended }
                    }
                }
                return .ended
            }
        } catch is DaemonStopping {
            return .stopping
        } catch {
            return .gone(error)
        }
    }

    static func wallNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// A message for the browser.
enum FeedMessage: Sendable {
    case text(String)
    case binary([UInt8])
}

/// How a feed ends, and so how its WebSocket closes.
enum FeedClose: Sendable {
    /// The stream ended (`ended` was sent): 1000.
    case ended
    /// The daemon stops: 1001.
    case stopping
    /// Refused before any token (an `error` frame is sent first): 1008, or 1013 for a limit or a stop.
    case refused(FeedRefusal)
    /// The browser went away, or the feed overran its unsent limit: closed without more.
    case gone(any Error)
}

/// Why a feed was refused, as its `error` frame says it.
struct FeedRefusal: Error, Sendable {
    let code: String
    let message: String
    /// A limit or a stop: worth trying again later (close code 1013).
    var isTransient: Bool { code == "limitReached" || code == "shuttingDown" }

    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ refusal: BackendRefusal) {
        let code = switch refusal.reason {
        case .unknownStream: "unknownStream"
        case .limitReached: "limitReached"
        case .voiceActivityOff: "voiceActivityOff"
        case .unsupported: "unsupported"
        case .badAudioFormat: "badAudioFormat"
        case .shuttingDown: "shuttingDown"
        case .internalError: "internalError"
        }
        self.init(code, refusal.message)
    }
}

/// The daemon stops under a feed.
struct DaemonStopping: Error {}
