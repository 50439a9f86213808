import ClientSessions
import EncodingScheduler
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import WireProtocol

/// The Unix-socket server, as a `Service`: binds (or adopts systemd's socket), accepts clients, one child task per
/// connection, and on graceful shutdown stops accepting and drains every client within `drainTimeout`.
///
/// Built on SwiftNIO: its event loop does non-blocking socket I/O with `EINTR`/`EAGAIN` handled once, pauses reading a
/// connection whose inbound buffer is full (which is how pushed audio gets backpressure), signals writability (which
/// is how a slow reader's queue fills and sheds its oldest frames), adopts an already-listening descriptor, and its
/// `NIOAsyncChannel` fits structured concurrency. Plain POSIX sockets would need all of that written again.
package final class SocketServer: Service {
    private let engine: Engine
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let onListening: @Sendable () -> Void
    /// What every connection shares: the session layer on the engine, and the facts of `welcome`.
    private let context: ConnectionContext

    private struct State {
        var connections: [Int: Connection] = [:]
        var listener: (any Channel)?
        var stopping = false
    }

    private let state = Mutex(State())

    /// `onListening` runs once the socket accepts connections (the daemon sends READY=1 there).
    package init(engine: Engine, configuration: ServerConfiguration, logger: Logger,
                 onListening: @escaping @Sendable () -> Void = {}) {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        let facts = Engine.ServerFacts(serverName: configuration.serverName, version: configuration.version,
                                       revision: configuration.revision, socketPath: configuration.socketPath)
        let sessions = EngineSessions(engine: engine, payloads: configuration.payloadTypes) {
            StatusJSON.encode(engine.status(facts, protocolVersion: Int(Handshake.currentVersion)))
        }
        context = ConnectionContext(configuration: configuration, sessions: sessions,
                                    welcome: { Self.welcome(version: $0, engine: engine, configuration: configuration) },
                                    wallClock: { engine.clock.wallNanoseconds() }, logger: logger)
    }

    typealias Accepted = (channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, peer: PeerCredentials?)

    package func run() async throws {
        var bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        if let size = configuration.socketSendBuffer {
            // Both buffers below the send queue: the kernel's, and NIO's pending writes (the writer waits above it).
            bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size))
                .childChannelOption(.writeBufferWaterMark, value: .init(low: max(1, size / 2), high: size))
        }
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Accepted> = { channel in
            Self.peerCredentials(of: channel).flatMapThrowing { peer in
                // Deinit-based teardown on purpose: a connection accepted while the listener is closing can be
                // dropped by the finished accept stream before anyone runs it, and an NIOAsyncChannel made with
                // `wrappingChannelSynchronously` traps when deinited unfinished (seen at shutdown, 1 run in 10).
                // This one closes its channel instead.
                let wrapped = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    synchronouslyWrapping: channel,
                    configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8)))
                return (wrapped, peer)
            }
        }
        let listener: NIOAsyncChannel<Accepted, Never>
        let ownsPath: Bool
        if let descriptor = configuration.listenDescriptor {
            listener = try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
            ownsPath = false
            logger.info("listening on the socket systemd passed", metadata: ["fd": "\(descriptor)"])
        } else {
            try SocketAccess.prepare(configuration.socketPath)
            // Create the socket file with its final mode: bind and listen are one step here, so a chmod afterwards
            // would leave a window in which clients meet the umask's mode instead. The umask is process-wide, but
            // nothing else creates files while the daemon starts listening.
            let previousMask = umask(mode_t(~configuration.socketMode & 0o777))
            do {
                listener = try await bootstrap.bind(unixDomainSocketPath: configuration.socketPath,
                                                    childChannelInitializer: initializer)
                umask(previousMask)
            } catch {
                umask(previousMask)
                throw SocketPathError("\(configuration.socketPath): cannot listen: \(error)")
            }
            ownsPath = true
            do {
                try SocketAccess.setOwnership(configuration.socketPath, mode: configuration.socketMode,
                                             group: configuration.socketGroup)
            } catch {
                try? await listener.channel.close()
                SocketAccess.remove(configuration.socketPath)
                throw error
            }
            logger.info("listening", metadata: ["socket": "\(configuration.socketPath)",
                                                "mode": "\(String(configuration.socketMode, radix: 8))"])
        }
        state.withLock { $0.listener = listener.channel }
        onListening()

        defer { if ownsPath { SocketAccess.remove(configuration.socketPath) } }
        try await withGracefulShutdownHandler {
            try await listener.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await accepted in inbound {
                        group.addTask { await self.serve(accepted) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        logger.info("server stopped")
    }

    /// Stops accepting and tells every connection to drain.
    private func beginShutdown() {
        let (listener, connections) = state.withLock { s in
            s.stopping = true
            return (s.listener, Array(s.connections.values))
        }
        logger.info("stopping: draining clients", metadata: ["clients": "\(connections.count)"])
        listener?.close(promise: nil)
        for connection in connections { connection.beginShutdown() }
    }

    private func serve(_ accepted: Accepted) async {
        let peer = accepted.peer.map(\.description) ?? "unknown peer"
        let registration: Result<Connection, ProtocolError> = state.withLock { s in
            if s.stopping { return .failure(ProtocolError(.shuttingDown, "the server is stopping")) }
            if let refusal = admission(accepted.peer) { return .failure(refusal) }
            let slot = ConnectionSlot()
            let outbox = Connection.outbox(configuration)
            let session: any ClientSession
            do throws(SessionRefusal) {
                session = try context.sessions.admit(
                    ClientDescription(transport: .socket, peer: peer),
                    limits: SessionLimits(subscriptions: configuration.maxSubscriptions,
                                          pushes: configuration.maxPushedStreams)) { slot.activity }
            } catch {
                return .failure(ProtocolError(ErrorCode(error.reason), error.message))
            }
            let connection = Connection(session: session, outbox: outbox, channel: accepted.channel.channel,
                                        context: context)
            slot.connection = connection
            s.connections[connection.id] = connection
            return .success(connection)
        }
        let connection: Connection
        switch registration {
        case .failure(let refusal):
            if refusal.code != .tooManyClients { context.sessions.refused(reason: refusal.code.name) }
            logger.notice("refused a client", metadata: ["peer": "\(peer)", "reason": "\(refusal)"])
            await Connection.refuse(accepted.channel, refusal)
            return
        case .success(let admitted):
            connection = admitted
        }
        logger.info("client connected", metadata: ["connection": "\(connection.id)", "peer": "\(peer)"])
        await connection.run(accepted.channel)
        state.withLock { _ = $0.connections.removeValue(forKey: connection.id) }
        connection.session.close()
        logger.info("client disconnected", metadata: [
            "connection": "\(connection.id)", "droppedFrames": "\(connection.outbox.droppedTotal)"])
    }

    /// nil if `peer` may connect.
    private func admission(_ peer: PeerCredentials?) -> ProtocolError? {
        guard !configuration.allowedUIDs.isEmpty || !configuration.allowedGIDs.isEmpty else { return nil }
        guard let peer else { return ProtocolError(.notAllowed, "the peer's credentials are unknown") }
        if peer.uid == 0 || peer.uid == getuid() || configuration.allowedUIDs.contains(peer.uid)
            || configuration.allowedGIDs.contains(peer.gid) {
            return nil
        }
        if !configuration.allowedGIDs.isDisjoint(with: Self.supplementaryGroups(pid: peer.pid)) { return nil }
        return ProtocolError(.notAllowed, "uid \(peer.uid) gid \(peer.gid) is not on this server's allow-list")
    }

    /// The `welcome` answer: the model's and the server's facts.
    private static func welcome(version: UInt16, engine: Engine, configuration: ServerConfiguration) -> Welcome {
        let facts = engine.facts
        return Welcome(version: version, serverName: configuration.serverName, modelID: engine.modelID,
                       embeddingWidth: UInt32(facts.embeddingWidth), encoderWidth: UInt32(facts.encoderWidth),
                       payloadTypes: configuration.payloadTypes, sampleRate: 16_000,
                       samplesPerToken: UInt32(facts.samplesPerToken),
                       tokensPerSecond: 16_000 / Float(facts.samplesPerToken),
                       blockTokens: UInt16(engine.blockTokens), maxFrameLength: UInt32(configuration.maxFrameLength),
                       maxPushedStreams: UInt16(configuration.maxPushedStreams),
                       historyTokens: UInt32(engine.historyTokens), streams: engine.liveStreams.map(\.name))
    }

    /// What this server adds to the status: its name, the build's version and revision, and its socket.
    private var facts: Engine.ServerFacts {
        Engine.ServerFacts(serverName: configuration.serverName, version: configuration.version,
                           revision: configuration.revision, socketPath: configuration.socketPath)
    }

    /// The session layer every transport of this daemon serves its clients through (one host: the socket's, gRPC's
    /// and the live view's clients share its registry and status).
    package var sessions: any SessionHost { context.sessions }

    /// The daemon's typed status, with this server's name and socket.
    package func status() -> DaemonStatus {
        engine.status(facts, protocolVersion: Int(Handshake.currentVersion))
    }

    /// SO_PEERCRED of a connected Unix socket.
    private static func peerCredentials(of channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let future: EventLoopFuture<PeerCredentialsLayout> = provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
        return future.map { cred -> PeerCredentials? in PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid) }
            .recover { _ -> PeerCredentials? in nil }
    }

    /// The supplementary groups of process `pid` (from /proc/PID/status), for the gid allow-list.
    private static func supplementaryGroups(pid: Int32) -> Set<UInt32> {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) else { return [] }
        return Set(line.dropFirst("Groups:".count).split(separator: " ").compactMap { UInt32($0.trimmingCharacters(in: .whitespaces)) })
    }
}

/// Lets the client registry read a connection's activity before the connection exists (its id comes first).
private final class ConnectionSlot: @unchecked Sendable {
    private let lock = NSLock()
    private weak var _connection: Connection?

    var connection: Connection? {
        get { lock.withLock { _connection } }
        set { lock.withLock { _connection = newValue } }
    }

    var activity: ClientActivity { connection?.activity ?? ClientActivity() }
}

/// `struct ucred` from <sys/socket.h> (hidden behind _GNU_SOURCE in Swift's Glibc module): pid, uid, gid.
struct PeerCredentialsLayout: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
