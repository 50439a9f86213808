import NIOCore
import Synchronization

/// Admission for one network listener (gRPC, gRPC health, metrics): a cap on open connections and the deadlines of
/// ``ConnectionClock``, installed once on the listening channel with ``install(on:)``.
///
/// Why at the listening channel: it sees each accepted connection before any of the listener's own handlers (TLS,
/// HTTP/2, HTTP/1) is set up, so a connection over the cap is closed at once, having cost only its descriptor for an
/// instant; and the one hook works for listeners whose child pipelines we do not build (grpc-swift's transport).
/// Established connections are never touched by the cap: reaching it only refuses new ones.
///
/// The listener reports requests with ``requestStarted(on:)`` and ``requestFinished(on:)``, from the connection's
/// channel or from any child channel of it (an HTTP/2 stream).
package final class ListenerAdmission: Sendable {
    /// The listener's name in logs and errors ("grpc", "metrics" …).
    package let name: String
    package let limits: AdmissionLimits
    private let open = Atomic<Int>(0)
    private let refusedTotal = Atomic<Int>(0)
    private let expiredTotal = Atomic<Int>(0)
    private let onEvent: @Sendable (Event) -> Void
    /// The open connections (for ``quiesce()``), and whether the listener is stopping.
    private let connections = Mutex<(channels: [ObjectIdentifier: any Channel], quiescing: Bool)>(([:], false))

    /// What happened to a connection, for logs and metrics.
    package enum Event: Sendable, Equatable {
        /// Closed as it was accepted: `maxConnections` were open. `total`: refusals since start, this one included.
        case refused(open: Int, total: Int)
        /// Closed by a deadline; the reason names it.
        case expired(reason: String)
    }

    /// `onEvent` runs on an event loop: it must be quick (a log line, a counter).
    package init(name: String, limits: AdmissionLimits, onEvent: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.name = name
        self.limits = limits
        self.onEvent = onEvent
    }

    /// Connections open now.
    package var openConnections: Int { open.load(ordering: .relaxed) }
    /// Connections closed at accept because the cap was reached, since start.
    package var refusedConnections: Int { refusedTotal.load(ordering: .relaxed) }
    /// Connections closed by a deadline, since start.
    package var expiredConnections: Int { expiredTotal.load(ordering: .relaxed) }

    /// Adds the gate to a listening channel's pipeline (from a `serverChannelInitializer`, or grpc-swift's
    /// `onBindTCPListener`). It must come before NIO's `AcceptHandler`, which every bootstrap adds after the
    /// server channel initializer.
    package func install(on listener: any Channel) -> EventLoopFuture<Void> {
        listener.eventLoop.makeCompletedFuture {
            try listener.pipeline.syncOperations.addHandler(AcceptGate(admission: self))
        }
    }

    /// NIO's `AcceptBackoffHandler` for a listener bound with `ServerBootstrap.bind(host:port:)`, the one bind that
    /// does not add it: without it, accept failing with EMFILE leaves the listening socket readable and its event loop
    /// spins at 100 % CPU, stalling every connection that loop serves. (The async `bind` variants add their own.)
    package static func installAcceptBackoff(on listener: any Channel) -> EventLoopFuture<Void> {
        listener.eventLoop.makeCompletedFuture {
            try listener.pipeline.syncOperations.addHandler(AcceptBackoffHandler(shouldForwardIOErrorCaught: false))
        }
    }

    /// A request started on `channel` (the connection, or a child of it). Call on the channel's event loop.
    package static func requestStarted(on channel: any Channel) {
        clock(of: channel)?.requestStarted()
    }

    /// A request on `channel` finished (answered, or its stream closed). Call on the channel's event loop.
    package static func requestFinished(on channel: any Channel) {
        clock(of: channel)?.requestFinished()
    }

    /// The deadline handler of the connection `channel` belongs to.
    private static func clock(of channel: any Channel) -> DeadlineHandler? {
        var current: (any Channel)? = channel
        while let c = current {
            if let handler = try? c.pipeline.syncOperations.handler(type: DeadlineHandler.self) { return handler }
            current = c.parent
        }
        return nil
    }

    /// The listener is stopping: every connection with no request open is closed now, and any accepted from now
    /// on. (A client that never made a request would otherwise hold a graceful shutdown until its deadline: it
    /// never answers GOAWAY.)
    package func quiesce() {
        let channels = connections.withLock { state in
            state.quiescing = true
            return Array(state.channels.values)
        }
        for channel in channels {
            channel.eventLoop.execute {
                (try? channel.pipeline.syncOperations.handler(type: DeadlineHandler.self))?.quiesce()
            }
        }
    }

    fileprivate var isQuiescing: Bool { connections.withLock { $0.quiescing } }

    fileprivate func track(_ channel: any Channel) {
        connections.withLock { $0.channels[ObjectIdentifier(channel)] = channel }
    }

    fileprivate func untrack(_ channel: any Channel) {
        connections.withLock { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Takes a slot, or false at the cap.
    fileprivate func admit() -> Bool {
        while true {
            let now = open.load(ordering: .relaxed)
            if now >= limits.maxConnections {
                let total = refusedTotal.wrappingAdd(1, ordering: .relaxed).newValue
                onEvent(.refused(open: now, total: total))
                return false
            }
            if open.compareExchange(expected: now, desired: now + 1, ordering: .relaxed).exchanged { return true }
        }
    }

    fileprivate func leave() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }

    fileprivate func expired(_ reason: String) {
        expiredTotal.wrappingAdd(1, ordering: .relaxed)
        onEvent(.expired(reason: reason))
    }
}

/// On the listening channel: each accepted connection takes a slot (or is closed), and gets a ``DeadlineHandler``
/// first in its pipeline, before the listener's initializer adds its own handlers.
private final class AcceptGate: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    let admission: ListenerAdmission

    init(admission: ListenerAdmission) {
        self.admission = admission
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let connection = unwrapInboundIn(data)
        // A stopping listener takes no new connection. Closing one here, before the listener's own initializer has
        // seen it, is the only safe moment: grpc-swift's transport traps (NIOAsyncWriter deinit) on a connection it
        // set up but no longer consumes, and the clients whose idle connections `quiesce()` closed reconnect at once.
        guard !admission.isQuiescing else {
            connection.close(promise: nil)
            return
        }
        guard admission.admit() else {
            connection.close(promise: nil)
            return
        }
        let admission = self.admission
        admission.track(connection)
        connection.closeFuture.whenComplete { _ in
            admission.untrack(connection)
            admission.leave()
        }
        // The connection's own event loop runs this before the bootstrap's child initializer (both are queued there
        // in this order, or run at once when it is this loop), so the handler is first in the pipeline.
        connection.eventLoop.execute {
            let handler = DeadlineHandler(admission: admission)
            try? connection.pipeline.syncOperations.addHandler(handler, position: .first)
        }
        context.fireChannelRead(data)
    }
}

/// First in a connection's pipeline: closes it when its ``ConnectionClock`` expires. Sees only lifecycle events;
/// bytes pass through untouched.
final class DeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let admission: ListenerAdmission
    private var clock: ConnectionClock?
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(admission: ListenerAdmission) {
        self.admission = admission
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // The handlers after this one see the connection active before it may be closed (a stopping listener closes
        // it at once): closing first, then passing on channelActive, tells them "active" after "inactive", and
        // grpc-swift's NIOAsyncChannel traps on that.
        context.fireChannelActive()
        if clock == nil { start(context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func requestStarted() {
        clock?.requestStarted()
        rearm()
    }

    func requestFinished() {
        guard let context else { return }
        clock?.requestFinished(at: context.eventLoop.now)
        rearm()
    }

    /// The listener is stopping: closes the connection now if no request is open. One with a request open is left
    /// to the listener's own drain (gRPC's GOAWAY): closing it as its last stream ends could cut off the trailers.
    func quiesce() {
        guard let context, (clock?.openRequests ?? 0) == 0 else { return }
        context.close(promise: nil)
    }

    private func start(_ context: ChannelHandlerContext) {
        // The loop's clock, not the wall's: an embedded loop's virtual time in tests.
        clock = ConnectionClock(limits: admission.limits, acceptedAt: context.eventLoop.now)
        if admission.isQuiescing { return quiesce() }
        rearm()
    }

    /// One timer at the clock's expiry; none while a request is open.
    private func rearm() {
        timer?.cancel()
        timer = nil
        guard let context, let expiry = clock?.expiry else { return }
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(deadline: expiry.at) { [self] in
            timer = nil
            guard let expiry = clock?.expiry, expiry.at <= context.eventLoop.now else { return rearm() }
            admission.expired(expiry.reason)
            context.close(promise: nil)
        }
    }
}
