import ClientSessions
import EarshotTypes
import Foundation
import Synchronization
import WireProtocol

/// What every WebSocket feed shares: each feed is one client session of the daemon's one registry (``SessionHost``,
/// admitted against `max-clients` with the socket's clients and gRPC's calls), opened past the live view's
/// ``StopGate``, and counted while it runs so the stop can wait for it.
struct FeedSessions: Sendable {
    let sessions: any SessionHost
    let gate: StopGate
    let running: RunningFeeds
    let configuration: LiveViewConfiguration

    /// Opens a feed's session, or says why not: the daemon stops, or `max-clients` are served already.
    func open(peer: String, limits: SessionLimits,
              activity: @escaping @Sendable () -> ClientActivity) throws(FeedRefusal) -> any ClientSession {
        do {
            try gate.admit()
            return try sessions.admit(ClientDescription(transport: .websocket, peer: peer), limits: limits,
                                      activity: activity)
        } catch {
            // The registry counts its own refusals; the stop is the transport's to count.
            if error.reason == .shuttingDown { sessions.refused(reason: error.reason.name) }
            throw FeedRefusal(error)
        }
    }

    /// A token feed's send queue: the socket's live capacity and gRPC's unread limit.
    func outbox() -> Outbox<FeedItem> {
        Outbox(liveCapacity: configuration.liveQueueTokens, hardLimit: configuration.maxUnsentEvents)
    }

    /// Writes a token feed's items until `ended`: each token as its header and values (``FeedFrames``), told to the
    /// session once written (its latency, a pushed token's credit), or until the outbox ends.
    static func drain(_ outbox: Outbox<FeedItem>, session: any ClientSession, output: OutputKind,
                      samplesPerToken: Int,
                      send: @escaping @Sendable (FeedMessage) async throws -> Void) async throws {
        while let item = try await outbox.next() {
            switch item {
            case .token(let token):
                let bytes = token.encoded(output, as: .f32)
                let info = token.info
                let header = token.withValues(output) { values in
                    FeedFrames.tokenHeader(index: info.index, firstSample: info.firstSample,
                                           captureTimeNanoseconds: info.captureTimeNanoseconds, flags: info.flags,
                                           values: values, nowNanoseconds: wallNanoseconds(),
                                           samplesPerToken: samplesPerToken)
                }
                try await session.send(token) {
                    try await send(.text(header))
                    try await send(.binary(bytes))
                }
            case .event(let event):
                try await send(.text(FeedFrames.event(event)))
                if event.kind == .ended { return }
            }
        }
    }

    static func wallNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// The feeds admitted and still running: the stop waits for them within the drain timeout. (Not an admission
/// count: how many may run is the registry's `max-clients`.)
final class RunningFeeds: Sendable {
    private let count = Atomic(0)

    var current: Int { count.load(ordering: .sequentiallyConsistent) }

    /// Runs `body` counted.
    func during<T>(_ body: () async -> T) async -> T {
        count.add(1, ordering: .sequentiallyConsistent)
        defer { count.subtract(1, ordering: .sequentiallyConsistent) }
        return await body()
    }
}

/// A WebSocket token feed, a framing adapter over the session layer as gRPC's `Subscribe` is: open a session →
/// subscribe with an ``OutboxReceiver`` (the shared ``Outbox`` policy: a slow reader's live tokens are refused, the
/// hub skips it, and a `lagged` event marks the gap) → drain the outbox into frames. `ended` ends the feed.
struct StreamFeed: Sendable {
    let feeds: FeedSessions

    /// What the page asked for in the WebSocket URL's query, parsed (the session checks it against the model).
    struct Request: Sendable {
        var parameters: SubscribeRequest

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
            parameters = SubscribeRequest(stream: stream, start: start, payload: .f32, output: output,
                                          options: options)
        }
    }

    /// Runs the feed until the stream ends, the daemon stops (then what is queued is sent first, within the drain
    /// timeout) or `send` throws (the browser went away). Returns how the WebSocket should close.
    func run(_ request: Request, peer: String,
             send: @escaping @Sendable (FeedMessage) async throws -> Void) async -> FeedClose {
        let parameters = request.parameters
        let outbox = feeds.outbox()
        defer { outbox.close() }
        let session: any ClientSession
        do throws(FeedRefusal) {
            session = try feeds.open(peer: peer, limits: .oneCall) {
                ClientActivity(name: "websocket Subscribe \(parameters.stream)", queuedFrames: outbox.pendingCount,
                               droppedFrames: outbox.droppedTotal)
            }
        } catch {
            return .refused(error)
        }
        defer { session.close() }
        let subscription: any Subscription
        do {
            subscription = try session.subscribe(parameters, receiver: FeedItem.receiver(outbox), announce: { _ in })
        } catch {
            return .refused(FeedRefusal(error))
        }
        let gate = feeds.gate, drainTimeout = feeds.configuration.drainTimeout
        let width = feeds.sessions.model.width(of: parameters.output)
        let samplesPerToken = feeds.sessions.model.samplesPerToken
        return await feeds.running.during {
            do {
                try await send(.text(FeedFrames.started(stream: subscription.stream,
                                                        firstToken: subscription.firstToken, width: width,
                                                        output: parameters.output,
                                                        samplesPerToken: samplesPerToken)))
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    // The daemon stops: what is queued is written, then 1001 (at once after the drain timeout).
                    group.addTask {
                        await gate.untilStopped()
                        guard !Task.isCancelled else { return }
                        outbox.failAfterQueued(DaemonStopping())
                        try await Task.sleep(for: drainTimeout)
                        outbox.fail(DaemonStopping())
                    }
                    defer { group.cancelAll() }
                    try await FeedSessions.drain(outbox, session: session, output: parameters.output,
                                                       samplesPerToken: samplesPerToken, send: send)
                    return .ended
                }
            } catch is DaemonStopping {
                return .stopping
            } catch {
                return .gone(error)
            }
        }
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
    /// Refused before any token, or a push's bad input (an `error` frame is sent first): see
    /// ``FeedRefusal/closeCode``.
    case refused(FeedRefusal)
    /// The browser went away, or the feed overran its unsent limit: closed without more.
    case gone(any Error)
}

/// Why a feed was refused, as its `error` frame says it (docs/protocol.md, "WebSocket").
struct FeedRefusal: Error, Sendable {
    let code: String
    let message: String

    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The session layer's reasons as the feeds' documented codes: the one place they are mapped.
    init(_ refusal: SessionRefusal) {
        let code = switch refusal.reason {
        case .unknownStream: "unknownStream"
        case .tooManyClients, .tooManySubscriptions, .tooManyPushes: "limitReached"
        case .voiceActivityOff: "voiceActivityOff"
        case .unsupportedPayload: "unsupported"
        // The sample rate, channel count or label of a push: values of its URL's query.
        case .badAudioFormat: "badRequest"
        case .shuttingDown: "shuttingDown"
        case .internalError: "internalError"
        }
        self.init(code, refusal.message)
    }

    /// The close code (RFC 6455 §7.4): 1013 (try again later) for a limit or a stop, 1011 for a failure inside the
    /// daemon, 1008 for a request that will not work as it is.
    var closeCode: UInt16 {
        switch code {
        case "limitReached", "shuttingDown": 1013
        case "internalError": 1011
        default: 1008
        }
    }
}

/// The daemon stops under a feed.
struct DaemonStopping: Error {}

/// A WebSocket push, a framing adapter over the session layer as gRPC's `Push` is: open a session → start its pushed
/// stream (the push budget suspends ``PushedStream/append(_:)`` when the browser does not read, and the connection
/// then stops reading the browser's audio) → feed it the binary frames → `{"finish":true}` flushes it → drain the
/// outbox (each pushed token's credit released once written) → `ended` ends the feed.
struct PushFeed: Sendable {
    let feeds: FeedSessions

    /// What the page asked for in the WebSocket URL's query, parsed (the session checks the ranges and the label).
    struct Request: Sendable {
        var parameters: PushRequest

        /// Parses `format=s16le|s32le|f32le`, `rate`, `channels` (1 if absent), `output`, `speech`, `label`.
        init(query: [String: String]) throws(FeedRefusal) {
            guard let formatName = query["format"],
                  let format = PCMFormat.allCases.first(where: { $0.description == formatName }) else {
                throw FeedRefusal("badRequest", "format must be s16le, s32le or f32le")
            }
            guard let rate = query["rate"].flatMap(Int.init) else {
                throw FeedRefusal("badRequest", "rate must be a whole number of hertz")
            }
            guard let channels = Int(query["channels"] ?? "1") else {
                throw FeedRefusal("badRequest", "channels must be a whole number")
            }
            // The subscription's parsing for the options the two share.
            let shared = try StreamFeed.Request(
                stream: "-", query: query.filter { ["output", "speech", "payload"].contains($0.key) }).parameters
            parameters = PushRequest(format: format.sampleFormat, sampleRate: rate, channels: channels, payload: .f32,
                                     output: shared.output, label: query["label"] ?? "", options: shared.options)
        }
    }

    func run(_ request: Request, peer: String, inbound: FeedInbound,
             send: @escaping @Sendable (FeedMessage) async throws -> Void) async -> FeedClose {
        let parameters = request.parameters
        let outbox = feeds.outbox()
        defer { outbox.close() }
        let session: any ClientSession
        do throws(FeedRefusal) {
            session = try feeds.open(peer: peer, limits: .oneCall) {
                ClientActivity(name: "websocket Push" + (parameters.label.isEmpty ? "" : " \(parameters.label)"),
                               queuedFrames: outbox.pendingCount)
            }
        } catch {
            return .refused(error)
        }
        defer { session.close() }
        let stream: any PushedStream
        do {
            let name = parameters.label.isEmpty ? "websocket push" : "websocket push \(parameters.label)"
            stream = try session.startPush(parameters, name: name, receiver: FeedItem.receiver(outbox))
        } catch {
            return .refused(FeedRefusal(error))
        }
        defer { stream.cancel() }
        let gate = feeds.gate, drainTimeout = feeds.configuration.drainTimeout
        let width = feeds.sessions.model.width(of: parameters.output)
        let samplesPerToken = feeds.sessions.model.samplesPerToken
        return await feeds.running.during {
            do {
                try await send(.text(FeedFrames.started(stream: parameters.label, firstToken: 0, width: width,
                                                        output: parameters.output,
                                                        samplesPerToken: samplesPerToken)))
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    // The browser's audio, until `finish`; a bad frame ends the feed with its reason.
                    group.addTask {
                        do {
                            try await Self.read(inbound, into: stream, frameBytes: parameters.frameBytes)
                        } catch {
                            outbox.fail(error)
                        }
                    }
                    // The daemon stops: the audio taken is flushed and written within the drain timeout.
                    group.addTask {
                        await gate.untilStopped()
                        guard !Task.isCancelled else { return }
                        stream.finish()
                        try await Task.sleep(for: drainTimeout)
                        outbox.fail(DaemonStopping())
                    }
                    defer { group.cancelAll() }
                    try await FeedSessions.drain(outbox, session: session, output: parameters.output,
                                                       samplesPerToken: samplesPerToken, send: send)
                    return .ended
                }
            } catch let refusal as FeedRefusal {
                return .refused(refusal)
            } catch is DaemonStopping {
                return .stopping
            } catch {
                return .gone(error)
            }
        }
    }

    /// Feeds the browser's binary frames (whole PCM frames) to `stream` until a `{"finish":true}` text frame.
    private static func read(_ inbound: FeedInbound, into stream: any PushedStream, frameBytes: Int) async throws {
        while true {
            switch await inbound.next() {
            case .binary(let pcm):
                guard pcm.count % frameBytes == 0 else {
                    throw FeedRefusal("badAudio",
                                      "audio must be whole frames of \(frameBytes) bytes; got \(pcm.count) bytes")
                }
                if !pcm.isEmpty { await stream.append(pcm[...]) }
            case .text(let text):
                guard let message = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                      message["finish"] as? Bool == true, message.count == 1 else {
                    throw FeedRefusal("badRequest", "a push takes binary audio frames and one {\"finish\":true}")
                }
                stream.finish()
                return
            case .closed:
                throw CancellationError()
            }
        }
    }
}
