/// What a ``DropOldestQueue`` holds and how it sheds: which elements may be dropped, in which lane and with what
/// weight, what a dropped element leaves behind, and how later drops merge into that marker.
public protocol DropOldestPolicy {
    associatedtype Element
    associatedtype Marker

    /// The lane a droppable element is bounded in (an index into the queue's capacities) and the weight it counts
    /// there; nil for an element that is never dropped (and counts nowhere).
    static func lane(of element: Element) -> (index: Int, weight: Int)?
    /// The marker a dropped element leaves in its place; `later` are the elements queued after it, oldest first.
    static func marker(for dropped: Element, followedBy later: some Sequence<Element>) -> Marker
    /// Folds a dropped element into an earlier marker; false if they describe different things (another stream).
    static func merge(_ dropped: Element, into marker: inout Marker) -> Bool
    /// Whether a drop may merge into a marker with elements between them (true: the marker stands for one stream
    /// among others; false: only an adjacent marker, so each marker stays where its loss happened).
    static var mergesAcrossElements: Bool { get }
}

/// The drop-oldest queue policy, written once: a FIFO whose droppable elements are bounded, per lane, by total
/// weight. Past a lane's capacity its oldest element is removed and a marker takes its place, merging into an
/// earlier marker where the policy allows, so the consumer learns at the point of the gap what it lost. Elements in
/// no lane are never dropped and not bounded here (their owner bounds them).
///
/// Used for a live stream's audio backlog (the encoder fell behind: `overrun`), a socket client's and a gRPC call's
/// send queue (the client reads too slowly: `lagged`) and the capture queue (the consumer fell behind: `dropped`,
/// with a second lane that caps device events). A plain value: no locks, no I/O.
public struct DropOldestQueue<Policy: DropOldestPolicy> {
    public enum Entry {
        case element(Policy.Element)
        case marker(Policy.Marker)
    }

    /// Total weight allowed per lane.
    public let capacities: [Int]

    @usableFromInline
    enum Slot {
        case entry(Entry)
        /// Already handed out (before `head`).
        case vacant
    }

    @usableFromInline var slots: [Slot] = []
    @usableFromInline var head = 0
    private var weights: [Int]
    private var counts: [Int]
    /// Elements queued now that are never dropped.
    public private(set) var keptCount = 0

    /// One lane per capacity.
    public init(capacities: [Int]) {
        precondition(!capacities.isEmpty && capacities.allSatisfy { $0 > 0 },
                     "a drop-oldest queue needs positive capacities")
        self.capacities = capacities
        weights = [Int](repeating: 0, count: capacities.count)
        counts = weights
    }

    /// One lane.
    public init(capacity: Int) {
        self.init(capacities: [capacity])
    }

    /// Entries waiting (markers included).
    public var count: Int { slots.count - head }
    public var isEmpty: Bool { head == slots.count }
    /// Droppable weight queued now in `lane`.
    public func weight(inLane lane: Int) -> Int { weights[lane] }
    /// Droppable elements queued now in `lane`.
    public func count(inLane lane: Int) -> Int { counts[lane] }

    /// What one push shed.
    public struct Shed {
        /// Elements dropped.
        public var count = 0
        /// Their total weight.
        public var weight = 0
        /// The last one dropped.
        public var last: Policy.Element?

        public init() {}
    }

    /// Appends `element`; while its lane's weight exceeds the capacity, drops that lane's oldest element (never the
    /// one just pushed while it is the only one in its lane). Returns what was dropped.
    @discardableResult
    public mutating func push(_ element: Policy.Element) -> Shed {
        slots.append(.entry(.element(element)))
        guard let (lane, weight) = Policy.lane(of: element) else {
            keptCount += 1
            return Shed()
        }
        weights[lane] += weight
        counts[lane] += 1
        var shed = Shed()
        while weights[lane] > capacities[lane], counts[lane] > 1, let dropped = dropOldest(inLane: lane) {
            shed.count += 1
            shed.weight += dropped.weight
            shed.last = dropped.element
        }
        return shed
    }

    /// The oldest entry, if any.
    public mutating func pop() -> Entry? {
        while head < slots.count {
            let slot = slots[head]
            slots[head] = .vacant
            head += 1
            compactIfWorthIt()
            guard case .entry(let entry) = slot else { continue }
            if case .element(let element) = entry { forget(element) }
            return entry
        }
        return nil
    }

    /// Every entry, oldest first; the queue is left empty.
    public mutating func popAll() -> [Entry] {
        var all: [Entry] = []
        all.reserveCapacity(count)
        popAll { all.append($0) }
        return all
    }

    /// Hands every entry to `body`, oldest first; the queue is left empty, its storage kept (a consumer that keeps
    /// its own array allocates nothing). Inlinable, so the caller's module specializes it: generic code called
    /// across modules without specialization may box each entry.
    @inlinable
    public mutating func popAll(_ body: (Entry) -> Void) {
        for slot in slots[head...] { if case .entry(let entry) = slot { body(entry) } }
        removeAll()
    }

    public mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        head = 0
        for lane in weights.indices {
            weights[lane] = 0
            counts[lane] = 0
        }
        keptCount = 0
    }

    private mutating func forget(_ element: Policy.Element) {
        if let (lane, weight) = Policy.lane(of: element) {
            weights[lane] -= weight
            counts[lane] -= 1
        } else {
            keptCount -= 1
        }
    }

    /// Replaces the oldest element of `lane` with a marker, or folds it into an earlier marker.
    private mutating func dropOldest(inLane lane: Int) -> (element: Policy.Element, weight: Int)? {
        guard let i = slots[head...].firstIndex(where: {
            if case .entry(.element(let e)) = $0 { Policy.lane(of: e)?.index == lane } else { false }
        }), case .entry(.element(let dropped)) = slots[i] else { return nil }
        forget(dropped)
        let weight = Policy.lane(of: dropped)?.weight ?? 0
        // Everything before `i` is a marker or an element of another lane: few, so the scan is short.
        var j = i - 1
        while j >= head {
            if case .entry(.marker(var marker)) = slots[j] {
                if Policy.merge(dropped, into: &marker) {
                    if j == head && i == j + 1 {
                        // The usual case of a consumer that stopped reading: the marker leads the queue and the
                        // drop follows it. Moving the marker into the dropped slot keeps the order and is O(1).
                        slots[i] = .entry(.marker(marker))
                        slots[j] = .vacant
                        head += 1
                        compactIfWorthIt()
                    } else {
                        slots[j] = .entry(.marker(marker))
                        slots.remove(at: i)
                    }
                    return (dropped, weight)
                }
            } else if !Policy.mergesAcrossElements {
                break
            }
            j -= 1
        }
        let later = slots[(i + 1)...].lazy.compactMap { slot -> Policy.Element? in
            if case .entry(.element(let e)) = slot { e } else { nil }
        }
        slots[i] = .entry(.marker(Policy.marker(for: dropped, followedBy: later)))
        return (dropped, weight)
    }

    private mutating func compactIfWorthIt() {
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 && head * 2 >= slots.count {
            slots.removeSubrange(0..<head)
            head = 0
        }
    }
}
