/// What a ``DropOldestQueue`` holds and how it sheds: which elements may be dropped and what they weigh, what a
/// dropped element leaves behind, and how later drops merge into that marker.
public protocol DropOldestPolicy {
    associatedtype Element
    associatedtype Marker

    /// The weight an element counts against the capacity, or nil if it is never dropped (and does not count).
    static func droppableWeight(of element: Element) -> Int?
    /// The marker a dropped element leaves in its place.
    static func marker(for dropped: Element) -> Marker
    /// Folds a dropped element into an earlier marker; false if they describe different things (another stream).
    static func merge(_ dropped: Element, into marker: inout Marker) -> Bool
    /// Whether a drop may merge into a marker with kept elements between them (true: the marker stands for one
    /// stream among others; false: only an adjacent marker, so the marker stays where the loss happened).
    static var mergesAcrossKeptElements: Bool { get }
}

/// The drop-oldest queue policy, written once: a FIFO whose droppable elements are bounded by total weight. Past
/// the capacity the oldest droppable element is removed and a marker takes its place, merging into an earlier
/// marker where the policy allows, so the consumer learns at the point of the gap what it lost. Kept elements are
/// never dropped and not bounded here (their owner bounds them).
///
/// Used for a live stream's audio backlog (the encoder fell behind: `overrun`), a client's send queue (the client
/// reads too slowly: `lagged`) and the capture queue under `newestWins` (the consumer fell behind: `dropped`).
/// A plain value: no locks, no I/O.
public struct DropOldestQueue<Policy: DropOldestPolicy> {
    public enum Entry {
        case element(Policy.Element)
        case marker(Policy.Marker)
    }

    /// Total droppable weight allowed.
    public let capacity: Int

    private enum Slot {
        case entry(Entry)
        /// Already handed out (before `head`), or removed.
        case vacant
    }

    private var slots: [Slot] = []
    private var head = 0
    /// Droppable weight queued now.
    public private(set) var droppableWeight = 0
    /// Elements queued now that are never dropped.
    public private(set) var keptCount = 0
    /// Droppable elements queued now.
    public private(set) var droppableCount = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "a drop-oldest queue needs a positive capacity")
        self.capacity = capacity
    }

    /// Entries waiting (markers included).
    public var count: Int { slots.count - head }
    public var isEmpty: Bool { head == slots.count }

    /// What one push shed.
    public struct Shed: Equatable, Sendable {
        /// Elements dropped.
        public var count = 0
        /// Their total weight.
        public var weight = 0

        public init(count: Int = 0, weight: Int = 0) {
            self.count = count
            self.weight = weight
        }
    }

    /// Appends `element`; while the droppable weight exceeds the capacity, drops the oldest droppable element
    /// (never the one just pushed while it is the only one queued). Returns what was dropped.
    @discardableResult
    public mutating func push(_ element: Policy.Element) -> Shed {
        slots.append(.entry(.element(element)))
        guard let weight = Policy.droppableWeight(of: element) else {
            keptCount += 1
            return Shed()
        }
        droppableWeight += weight
        droppableCount += 1
        var shed = Shed()
        while droppableWeight > capacity, droppableCount > 1, let dropped = dropOldest() {
            shed.count += 1
            shed.weight += dropped
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
            if case .element(let element) = entry {
                if let weight = Policy.droppableWeight(of: element) {
                    droppableWeight -= weight
                    droppableCount -= 1
                } else {
                    keptCount -= 1
                }
            }
            return entry
        }
        return nil
    }

    /// Every entry, oldest first; the queue is left empty.
    public mutating func popAll() -> [Entry] {
        var all: [Entry] = []
        all.reserveCapacity(count)
        for slot in slots[head...] { if case .entry(let entry) = slot { all.append(entry) } }
        removeAll()
        return all
    }

    public mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        head = 0
        droppableWeight = 0
        keptCount = 0
        droppableCount = 0
    }

    /// Replaces the oldest droppable element with a marker, or folds it into an earlier marker. Returns its weight.
    private mutating func dropOldest() -> Int? {
        guard let i = slots[head...].firstIndex(where: {
            if case .entry(.element(let e)) = $0 { Policy.droppableWeight(of: e) != nil } else { false }
        }), case .entry(.element(let dropped)) = slots[i], let weight = Policy.droppableWeight(of: dropped) else {
            return nil
        }
        droppableWeight -= weight
        droppableCount -= 1
        // Everything before `i` is a marker or a kept element: few, so the scan is short.
        var j = i - 1
        while j >= head {
            if case .entry(.marker(var marker)) = slots[j] {
                if Policy.merge(dropped, into: &marker) {
                    slots[j] = .entry(.marker(marker))
                    slots.remove(at: i)
                    return weight
                }
            } else if case .entry(.element) = slots[j], !Policy.mergesAcrossKeptElements {
                break
            }
            j -= 1
        }
        slots[i] = .entry(.marker(Policy.marker(for: dropped)))
        return weight
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
