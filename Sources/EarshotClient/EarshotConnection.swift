import AudioCore
@_exported import EarshotTypes
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import WireProtocol

/// A connection to `earshotd`: subscribe to live streams, push your own audio, and read embeddings as they come.
///
/// Open one with ``withConnection(to:clientName:bufferCapacity:_:)``; it is closed when the closure returns.
/// Everything the server sends about streams arrives, in order, on ``messages``: keep reading it while you wait for
/// other calls, since the server's answers queue behind unread frames.
///
/// ```swift
/// try await EarshotConnection.withConnection { connection in
///     let mic = try await connection.subscribe(to: "mic")
///     for try await message in connection.messages {
///         if case .embedding(let frame) = message, frame.stream == mic.id {
///             print(frame.token, frame.values.count)
///         }
///     }
/// }
/// ```
public final class EarshotConnection: Sendable {
    private struct State {
        var server: ServerInfo?
        var welcome: Reply<ServerInfo>?
        /// Requests waiting for their answer, by request id.
        var pending: [UInt32: Reply<ServerMessage>] = [:]
        var pings: [UInt64: Reply<Void>] = [:]
        var nextRequest: UInt32 = 1
        /// Set once the connection is over; every later call fails with it.
        var closed: EarshotError?
    }

    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let state = Mutex(State())
    private let buffer: MessageBuffer

    private init(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, bufferCapacity: Int) {
        self.outbound = outbound
        buffer = MessageBuffer(capacity: bufferCapacity)
    }

    // MARK: Opening

    /// The socket clients use when none is given: `$EARSHOT_SOCKET`, else `$XDG_RUNTIME_DIR/earshot/earshot.sock`
    /// for a user, else `/run/earshot/earshot.sock` (where the system service listens).
    public static var defaultSocketPath: String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["EARSHOT_SOCKET"], !explicit.isEmpty { return explicit }
        if getuid() != 0, let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            let user = runtime + "/earshot/earshot.sock"
            if FileManager.default.fileExists(atPath: user) { return user }
        }
        return "/run/earshot/earshot.sock"
    }

    /// Connects to the daemon at `socketPath`, performs the handshake, runs `body`, then closes the connection.
    ///
    /// - Parameters:
    ///   - socketPath: the daemon's Unix socket; nil uses ``defaultSocketPath``.
    ///   - clientName: shown in the server's logs.
    ///   - bufferCapacity: messages held for ``messages`` before the connection stops reading (and the server
    ///     starts dropping this client's live frames, announced by `lagged`).
    ///   - body: what to do with the connection.
    /// - Throws: ``EarshotError`` (`connectionFailed`, `handshakeFailed`, …), or what `body` throws.
    public static func withConnection<Result: Sendable>(
        to socketPath: String? = nil, clientName: String = "EarshotClient", bufferCapacity: Int = 256,
        _ body: (EarshotConnection) async throws -> Result
    ) async throws -> Result {
        let path = socketPath ?? defaultSocketPath
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw EarshotError(.connectionFailed, "\(path): \(describe(error))")
        }
        return try await channel.executeThenClose { inbound, outbound in
            let connection = EarshotConnection(outbound: outbound, bufferCapacity: bufferCapacity)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await connection.readLoop(inbound) }
                defer { group.cancelAll() }
                try await connection.handshake(clientName: clientName)
                let result = try await body(connection)
                connection.finishLocally()
                return result
            }
        }
    }

    /// What the server said at the handshake.
    public var server: ServerInfo {
        state.withLock { $0.server }!   // set before `body` runs
    }

    /// Everything the server sends about streams (embeddings and events), in order. One consumer at a time.
    /// Ends when the connection closes; throws ``EarshotError`` if the server ended it with an error.
    public var messages: Messages { Messages(buffer: buffer) }

    /// The ``EarshotConnection/messages`` sequence.
    public struct Messages: AsyncSequence, Sendable {
        /// Embeddings, events and non-fatal errors.
        public typealias Element = EarshotMessage
        let buffer: MessageBuffer

        /// The one iterator (a connection has one consumer of its messages at a time).
        public func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer) }

        /// Iterates ``EarshotConnection/messages``.
        public struct Iterator: AsyncIteratorProtocol {
            let buffer: MessageBuffer
            /// The next message; nil once the connection is closed.
            public mutating func next() async throws -> EarshotMessage? { try await buffer.next() }
        }
    }

    // MARK: Requests

    /// Subscribes to the live stream `name`.
    ///
    /// - Parameters:
    ///   - start: from the next token (`.now`), or from the oldest the server holds (`.oldest`).
    ///   - payload: the value format on the wire (one of ``ServerInfo/payloadFormats``).
    ///   - kind: embeddings (width D) or encoder outputs (width P).
    ///   - speech: every token (`.none`), every token plus speech events, or only speech tokens plus the events.
    /// - Returns: the subscription; its frames carry ``Subscription/id`` in ``EmbeddingFrame/stream``.
    public func subscribe(to name: String = "mic", from start: SubscriptionStart = .now, payload: PayloadFormat = .f32,
                          kind: EmbeddingKind = .embeddings, speech: SpeechDelivery = .none) async throws
        -> Subscription {
        let request = nextRequestID()
        let answer = try await ask(request, .subscribe(Subscribe(request: request, stream: name, start: start.wire,
                                                                 payload: payload.wire, output: kind.wire,
                                                                 options: speech.wire)))
        guard case .subscribed(_, let id, let confirmed, let first) = answer else {
            throw EarshotError(.protocolViolation, "the server answered subscribe with \(answer.type.name)")
        }
        return Subscription(id: id, name: confirmed, firstToken: Int(first), payload: payload, kind: kind)
    }

    /// Ends a subscription. An ``EarshotEvent/Kind/ended`` event for it follows on ``messages``.
    public func unsubscribe(_ subscription: Subscription) async throws {
        try await send(.unsubscribe(stream: subscription.id))
    }

    /// Opens a private stream for audio you push, in `format` at `sampleRate` with `channels` (any rate and channel
    /// count: the server downmixes and resamples to 16 kHz mono, as `earshot encode` does). `speech` as for
    /// ``subscribe(to:from:payload:kind:speech:)``.
    public func startPush(format: SampleFormat = .f32le, sampleRate: Int = 16_000, channels: Int = 1,
                          payload: PayloadFormat = .f32, kind: EmbeddingKind = .embeddings,
                          label: String = "", speech: SpeechDelivery = .none) async throws -> PushedStream {
        guard sampleRate > 0, sampleRate <= Int(UInt32.max), channels > 0, channels <= Int(UInt16.max) else {
            throw EarshotError(.invalidArgument, "sample rate \(sampleRate) or channel count \(channels) is out of range")
        }
        let request = nextRequestID()
        let answer = try await ask(request, .pushStart(PushStart(
            request: request, format: format.wire, sampleRate: UInt32(sampleRate), channels: UInt16(channels),
            payload: payload.wire, output: kind.wire, label: label, options: speech.wire)))
        guard case .pushStarted(_, let id) = answer else {
            throw EarshotError(.protocolViolation, "the server answered pushStart with \(answer.type.name)")
        }
        return PushedStream(id: id, format: format, sampleRate: sampleRate, channels: channels, payload: payload,
                            kind: kind)
    }

    /// Pushes interleaved samples (any count of whole frames), converted to the stream's ``PushedStream/format``
    /// (s16le and s32le round and saturate to [-1, 1), NaN giving 0: `PCMQuantization`). Waits while the server
    /// applies backpressure.
    public func push(_ samples: [Float], to stream: PushedStream) async throws {
        guard samples.count % stream.channels == 0 else {
            throw EarshotError(.invalidArgument, "\(samples.count) samples are not whole \(stream.channels)-channel frames")
        }
        var bytes: [UInt8] = []
        stream.format.wire.sampleFormat.encode(samples, appendingTo: &bytes)
        try await push(pcm: bytes, to: stream)
    }

    /// Pushes raw PCM bytes in the stream's format (whole frames), split into frames the server accepts.
    /// Waits while the server applies backpressure.
    public func push(pcm: [UInt8], to stream: PushedStream) async throws {
        guard pcm.count % stream.frameBytes == 0 else {
            throw EarshotError(.invalidArgument, "\(pcm.count) bytes are not whole \(stream.frameBytes)-byte frames")
        }
        let limit = min(256 << 10, (server.maxFrameLength - 5) / stream.frameBytes * stream.frameBytes)
        guard limit > 0 else { throw EarshotError(.invalidArgument, "the server's frame limit is below one audio frame") }
        var offset = 0
        while offset < pcm.count {
            let end = min(pcm.count, offset + limit)
            try await send(.pushAudio(stream: stream.id, pcm: pcm[offset..<end]))
            offset = end
        }
    }

    /// Ends a pushed stream: the server encodes the rest (end-of-clip rule), sends it, then an
    /// ``EarshotEvent/Kind/ended`` event.
    public func endPush(_ stream: PushedStream) async throws {
        try await send(.pushEnd(stream: stream.id))
    }

    /// The server's status as JSON text (docs/protocol.md, "Status").
    public func status() async throws -> String {
        let request = nextRequestID()
        let answer = try await ask(request, .status(request: request))
        guard case .status(_, let json) = answer else {
            throw EarshotError(.protocolViolation, "the server answered status with \(answer.type.name)")
        }
        return json
    }

    /// The server's status as a typed value.
    public func statusReport() async throws -> DaemonStatus {
        let json = try await status()
        do {
            return try JSONDecoder().decode(DaemonStatus.self, from: Data(json.utf8))
        } catch {
            throw EarshotError(.protocolViolation, "the server's status does not decode: \(error)")
        }
    }

    /// Round-trip time to the server.
    public func ping() async throws -> Duration {
        let nonce = UInt64.random(in: 1...UInt64.max)
        let reply = Reply<Void>()
        try register { $0.pings[nonce] = reply }
        let start = ContinuousClock.now
        try await send(.ping(nonce: nonce))
        try await reply.value()
        return ContinuousClock.now - start
    }

    // MARK: Plumbing

    private func nextRequestID() -> UInt32 {
        state.withLock { s in
            defer { s.nextRequest = s.nextRequest == UInt32.max ? 1 : s.nextRequest + 1 }
            return s.nextRequest
        }
    }

    private func send(_ message: ClientMessage) async throws {
        if let closed = state.withLock({ $0.closed }) { throw closed }
        do {
            try await outbound.write(ByteBuffer(bytes: message.encoded()))
        } catch {
            throw state.withLock { $0.closed } ?? EarshotError(.closed, "the connection is closed (\(Self.describe(error)))")
        }
    }

    /// Sends a request and waits for the answer carrying `request`.
    private func ask(_ request: UInt32, _ message: ClientMessage) async throws -> ServerMessage {
        let reply = Reply<ServerMessage>()
        try register { $0.pending[request] = reply }
        do {
            try await send(message)
        } catch {
            _ = state.withLock { $0.pending.removeValue(forKey: request) }
            throw error
        }
        return try await reply.value()
    }

    /// Runs `body` on the state unless the connection is closed (then throws why).
    private func register(_ body: (inout State) -> Void) throws {
        try state.withLock { s throws(EarshotError) in
            if let closed = s.closed { throw closed }
            body(&s)
        }
    }

    private func handshake(clientName: String) async throws {
        let reply = Reply<ServerInfo>()
        try register { $0.welcome = reply }
        try await send(.hello(Hello(clientName: clientName)))
        _ = try await reply.value()
    }

    /// The client is done: later calls fail; the reader stops.
    private func finishLocally() {
        close(with: EarshotError(.closed, "the connection was closed by the client"))
        outbound.finish()
    }

    private func readLoop(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) async {
        var decoder = FrameDecoder(maxFrameLength: 64 << 20)
        var failure: EarshotError?
        do {
            reading: for try await bytes in inbound {
                bytes.withUnsafeReadableBytes { decoder.append($0) }
                while let frame = try decoder.next() {
                    let message = try ServerMessage(frame: frame)
                    if let fatal = await dispatch(message) {
                        failure = fatal
                        break reading
                    }
                }
            }
        } catch let error as ProtocolError {
            failure = EarshotError(.protocolViolation, "the server sent a bad frame: \(error)")
        } catch {
            if !(error is CancellationError) {
                failure = EarshotError(.closed, "the connection failed: \(Self.describe(error))")
            }
        }
        close(with: failure ?? EarshotError(.closed, "the server closed the connection"))
        buffer.finish(failure: failure)
    }

    /// Routes one server message; returns the error that ends the connection, if it is one.
    private func dispatch(_ message: ServerMessage) async -> EarshotError? {
        switch message {
        case .welcome(let welcome):
            let info = ServerInfo(welcome)
            let waiter = state.withLock { s in
                s.server = info
                return s.welcome.take()
            }
            waiter?.fulfil(.success(info))
        case .subscribed(let request, _, _, _), .pushStarted(let request, _), .status(let request, _):
            let waiter = state.withLock { $0.pending.removeValue(forKey: request) }
            waiter?.fulfil(.success(message))
        case .pong(let nonce, _):
            let waiter = state.withLock { $0.pings.removeValue(forKey: nonce) }
            waiter?.fulfil(.success(()))
        case .error(let e):
            let handshaking = state.withLock { $0.server == nil }
            let error = EarshotError(server: e, kind: handshaking ? .handshakeFailed : (e.fatal ? .closed : .requestFailed))
            if e.request != 0, let waiter = state.withLock({ $0.pending.removeValue(forKey: e.request) }) {
                waiter.fulfil(.failure(error))
                if !e.fatal { return nil }
            }
            if e.fatal || handshaking { return error }
            await buffer.send(.error(error))
        case .embedding(let e):
            await buffer.send(.embedding(EmbeddingFrame(
                stream: e.header.stream, token: Int(e.header.token), firstSample: Int(e.header.firstSample),
                captureTimeNanoseconds: e.header.captureTimeNanoseconds,
                flags: EmbeddingFlags(rawValue: e.header.flags.rawValue), payload: PayloadFormat(e.header.payload),
                kind: EmbeddingKind(e.header.output), values: e.values())))
        case .event(let e):
            await buffer.send(.event(EarshotEvent(e)))
        }
        return nil
    }

    /// Fails everything waiting and marks the connection closed.
    private func close(with error: EarshotError) {
        let (reason, handshaking, welcome, pending, pings) = state.withLock { s in
            if s.closed == nil { s.closed = error }
            defer {
                s.welcome = nil
                s.pending.removeAll()
                s.pings.removeAll()
            }
            return (s.closed!, s.server == nil, s.welcome, Array(s.pending.values), Array(s.pings.values))
        }
        welcome?.fulfil(.failure(handshaking && reason.kind == .closed
                                 ? EarshotError(.handshakeFailed, "the server closed the connection during the handshake")
                                 : reason))
        for waiter in pending { waiter.fulfil(.failure(reason)) }
        for waiter in pings { waiter.fulfil(.failure(reason)) }
    }

    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case ENOENT: return "no such socket (is earshotd running?)"
            case ECONNREFUSED: return "connection refused: no daemon is listening"
            case EACCES: return "permission denied (is your user in the socket's group?)"
            default: return "\(io)"
            }
        }
        return "\(error)"
    }
}
