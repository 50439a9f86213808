import WireProtocol

/// Where and how the server listens, and the limits it enforces per client.
package struct ServerConfiguration: Sendable {
    /// The socket's path (created, or adopted from systemd when `listenDescriptor` is set).
    package var socketPath: String
    /// A listening socket handed over by systemd (LISTEN_FDS); nil binds `socketPath` ourselves.
    package var listenDescriptor: Int32?
    /// Mode of a socket we create: owner and group may connect.
    package var socketMode: UInt32 = 0o660
    /// Group that owns a socket we create (name or number); nil keeps the daemon's group.
    package var socketGroup: String?
    /// Peers allowed to connect, by uid or gid (SO_PEERCRED); both empty means everyone who can open the socket.
    /// root (uid 0) and the daemon's own uid are always allowed.
    package var allowedUIDs: Set<UInt32> = []
    package var allowedGIDs: Set<UInt32> = []

    package var maxPushedStreams = 4
    /// Subscriptions one connection may hold; one more is refused with `too-many-subscriptions`.
    package var maxSubscriptions = 64
    /// A connection that has not completed its `hello` this long after connecting is closed (`timed-out`).
    package var helloTimeout: Duration = .seconds(10)
    /// A connection that sends nothing for this long while holding no stream, or leaves a frame unfinished this
    /// long, is closed (`timed-out`). See ``ConnectionDeadlines``.
    package var idleTimeout: Duration = .seconds(300)
    /// Largest frame accepted from a client (`length`: type + body).
    package var maxFrameLength = 1 << 20
    /// Live frames a client's send queue holds; past it the client's subscriptions are skipped until it reads half.
    package var sendQueueFrames = 1024
    /// Undroppable items (answers, events, pushed frames) a client may leave unread before it is disconnected.
    package var sendQueueHardLimit = 8192
    /// SO_SNDBUF for client sockets, and NIO's write-buffer high-water mark; nil keeps the defaults (the kernel's,
    /// and 64 KiB). Smaller means the send-queue policy (skip a stalled subscription) takes over sooner from these
    /// buffers for a client that stops reading.
    package var socketSendBuffer: Int?
    /// Payload types offered.
    package var payloadTypes: [PayloadType] = PayloadType.allCases
    /// How long a stopping server waits for clients to take their last frames.
    package var drainTimeout: Duration = .milliseconds(1000)
    /// The welcome's and the status's server name, e.g. "earshotd 0.3.0".
    package var serverName = "earshotd"
    /// The build serving, for the status's `version` and `revision` (the daemon gives its BuildInfo).
    package var version: String?
    package var revision: String?

    package init(socketPath: String) {
        self.socketPath = socketPath
    }
}
