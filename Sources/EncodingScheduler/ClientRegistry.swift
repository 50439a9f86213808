import EarshotTypes
import Synchronization

/// Every transport's clients in one place: the limit on how many are served at once (shared by the socket and gRPC),
/// what each is doing for status, and the life-time totals (connections, pushes, refusals by reason, lagged frames).
package final class ClientRegistry: Sendable {
    /// What a transport reports of one client, read when status is asked for.
    package struct Activity: Sendable {
        package var name = ""
        package var subscriptions = 0
        package var pushes = 0
        package var queuedFrames = 0
        package var droppedFrames: UInt64 = 0

        package init(name: String = "", subscriptions: Int = 0, pushes: Int = 0, queuedFrames: Int = 0,
                     droppedFrames: UInt64 = 0) {
            self.name = name
            self.subscriptions = subscriptions
            self.pushes = pushes
            self.queuedFrames = queuedFrames
            self.droppedFrames = droppedFrames
        }
    }

    private struct Entry {
        var transport: DaemonStatus.Transport
        var peer: String
        var activity: @Sendable () -> Activity
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 1
        var totals = DaemonStatus.Totals()
    }

    package let maxClients: Int
    private let state = Mutex(State())

    package init(maxClients: Int) {
        self.maxClients = maxClients
    }

    /// Why a client was not admitted.
    package enum Refusal: Error, Equatable {
        case tooManyClients(limit: Int)
    }

    /// Admits a client if fewer than `maxClients` are served; returns its id. `activity` is read for status.
    package func admit(transport: DaemonStatus.Transport, peer: String,
                       activity: @escaping @Sendable () -> Activity) throws(Refusal) -> Int {
        let id: Int? = state.withLock { s in
            guard s.entries.count < maxClients else { return nil }
            let id = s.nextID
            s.nextID += 1
            s.entries[id] = Entry(transport: transport, peer: peer, activity: activity)
            s.totals.connections += 1
            return id
        }
        guard let id else {
            refused(reason: "too-many-clients")
            throw .tooManyClients(limit: maxClients)
        }
        return id
    }

    /// The client is gone; `droppedFrames` joins the life-time lagged total.
    package func left(_ id: Int, droppedFrames: UInt64) {
        state.withLock { s in
            guard s.entries.removeValue(forKey: id) != nil else { return }
            s.totals.laggedFrames += droppedFrames
        }
    }

    /// A client was refused or closed by the server; `reason` is the protocol's error name ("not-allowed", …).
    package func refused(reason: String) {
        state.withLock { $0.totals.refusals[reason, default: 0] += 1 }
    }

    func pushStarted() {
        state.withLock { $0.totals.pushes += 1 }
    }

    package var count: Int { state.withLock { $0.entries.count } }

    /// Each client's status, and the totals (lagged frames include those of clients still connected).
    func snapshot() -> ([DaemonStatus.Connection], DaemonStatus.Totals) {
        let (entries, totals) = state.withLock { s in (s.entries.sorted { $0.key < $1.key }, s.totals) }
        var all = totals
        let connections = entries.map { id, entry in
            let a = entry.activity()
            all.laggedFrames += a.droppedFrames
            return DaemonStatus.Connection(id: id, transport: entry.transport, peer: entry.peer, name: a.name,
                                           subscriptions: a.subscriptions, pushes: a.pushes,
                                           queuedFrames: a.queuedFrames, droppedFrames: a.droppedFrames)
        }
        return (connections, all)
    }
}
