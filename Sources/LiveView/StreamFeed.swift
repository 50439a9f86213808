import AudioCore
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

/// A WebSocket push on the session seam, as gRPC's `Push` is (EarshotService.push): admit → start the backend's
/// pushed stream (its push budget suspends ``PushedStream/append(_:)`` when the browser does not read, and the
/// connection then stops reading the browser's audio) → feed it the binary frames → `{"finish":true}` flushes it →
/// drain the outbox (each pushed token's credit released once written) → `ended` ends the feed.
struct PushFeed: Sendable {
    let backend: any EmbeddingBackend
    let gate: CallGate
    let configuration: LiveViewConfiguration

    /// What the page asked for in the WebSocket URL's query.
    struct Request: Sendable {
        var parameters: PushParameters

        /// Parses `format=s16le|s32le|f32le`, `rate=1000…768000`, `channels=1…64`, `output`, `speech`, `label`.
        init(query: [String: String]) throws(FeedRefusal) {
            guard let formatName = query["format"],
                  let format = PCMFormat.allCases.first(where: { $0.description == formatName }) else {
                throw FeedRefusal("badRequest", "format must be s16le, s32le or f32le")
            }
            let rates = PCMStreamLimits.sampleRates, channelRange = PCMStreamLimits.channels
            guard let rate = query["rate"].flatMap(Int.init), rates.contains(rate) else {
                throw FeedRefusal("badRequest", "rate must be \(rates.lowerBound)…\(rates.upperBound)")
            }
            guard let channels = Int(query["channels"] ?? "1"), channelRange.contains(channels) else {
                throw FeedRefusal("badRequest", "channels must be \(channelRange.lowerBound)…\(channelRange.upperBound)")
            }
            let label = query["label"] ?? ""
            if let refusal = ClientText.refusal(label, field: "label") { throw FeedRefusal("badRequest", refusal) }
            // The subscription's own checks for the options the two share.
            let shared = try StreamFeed.Request(stream: "-", query: query.filter { ["output", "speech", "payload"].contains($0.key) })
                .parameters
            parameters = PushParameters(format: format, sampleRate: rate, channels: channels, payload: .f32,
                                        output: shared.output, label: label, options: shared.options)
        }
    }

    func run(_ request: Request, inbound: FeedInbound,
             send: @escaping @Sendable (FeedMessage) async throws -> Void) async -> FeedClose {
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
        let stream: any PushedStream
        do {
            stream = try backend.startPush(parameters, receiver: outbox)
        } catch {
            return .refused(FeedRefusal(error))
        }
        defer { stream.cancel() }
        let gate = self.gate, drainTimeout = configuration.drainTimeout
        do {
            try await send(.text(FeedFrames.started(stream: parameters.label, firstToken: 0,
                                                    width: backend.model.width(of: parameters.output),
                                                    output: parameters.output)))
            outbox.open()
            return try await withThrowingTaskGroup(of: Void.self) { group in
                // The browser's audio, until `finish`; a bad frame ends the feed with its reason.
                group.addTask {
                    do {
                        try await Self.read(inbound, into: stream, frameBytes: parameters.frameBytes)
                    } catch let refusal as FeedRefusal {
                        outbox.fail(refusal)
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
                while let item = try await outbox.next() {
                    switch item {
                    case .live(let token), .pushed(let token, _):
                        defer { if case .pushed(_, let credit) = item { credit.tokenSent() } }
                        let bytes = token.values.encoded(as: .f32)
                        let header = bytes.withUnsafeBytes { raw in
                            FeedFrames.tokenHeader(index: token.index, firstSample: token.firstSample,
                                                   captureTimeNanoseconds: token.captureTimeNanoseconds,
                                                   flags: token.flags, values: raw.bindMemory(to: Float.self),
                                                   nowNanoseconds: StreamFeed.wallNanoseconds())
                        }
                        try await send(.text(header))
                        try await send(.binary(bytes))
                    case .event(let event):
                        try await send(.text(FeedFrames.event(event)))
                        if event.kind == .ended { return .ended }
                    }
                }
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

    /// Feeds the browser's binary frames (whole PCM frames) to `stream` until a `{"finish":true}` text frame.
    private static func read(_ inbound: FeedInbound, into stream: any PushedStream, frameBytes: Int) async throws {
        while true {
            switch await inbound.next() {
            case .binary(let pcm):
                guard pcm.count % frameBytes == 0 else {
                    throw FeedRefusal("badAudio", "audio must be whole frames of \(frameBytes) bytes; got \(pcm.count) bytes")
                }
                if !pcm.isEmpty { try await stream.append(pcm) }
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
