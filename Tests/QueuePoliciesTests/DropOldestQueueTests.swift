import QueuePolicies
import Testing

/// The drop-oldest policy alone: weights, markers where the loss happened, merging rules, kept elements.
@Suite struct DropOldestQueueTests {
    /// Chunks of a stream (droppable, weighed by `samples`) and notes (kept); a drop leaves `lost`.
    enum Item: Equatable {
        case chunk(stream: Int, samples: Int)
        case note(String)
    }

    struct Lost: Equatable {
        var stream: Int
        var samples: Int
    }

    enum Adjacent: DropOldestPolicy {
        static func lane(of item: Item) -> (index: Int, weight: Int)? {
            if case .chunk(_, let n) = item { (0, n) } else { nil }
        }
        static func marker(for dropped: Item, followedBy later: some Sequence<Item>) -> Lost {
            guard case .chunk(let stream, let n) = dropped else { fatalError() }
            return Lost(stream: stream, samples: n)
        }
        static func merge(_ dropped: Item, into marker: inout Lost) -> Bool {
            guard case .chunk(let stream, let n) = dropped, stream == marker.stream else { return false }
            marker.samples += n
            return true
        }
        static var mergesAcrossElements: Bool { false }
    }

    enum AcrossKept: DropOldestPolicy {
        static func lane(of item: Item) -> (index: Int, weight: Int)? { Adjacent.lane(of: item) }
        static func marker(for dropped: Item, followedBy later: some Sequence<Item>) -> Lost {
            Adjacent.marker(for: dropped, followedBy: later)
        }
        static func merge(_ dropped: Item, into marker: inout Lost) -> Bool { Adjacent.merge(dropped, into: &marker) }
        static var mergesAcrossElements: Bool { true }
    }

    /// Chunks in lane 0 (by samples), notes in lane 1 (by count); a dropped note's marker names the next chunk.
    enum TwoLanes: DropOldestPolicy {
        static func lane(of item: Item) -> (index: Int, weight: Int)? {
            switch item {
            case .chunk(_, let n): (0, n)
            case .note: (1, 1)
            }
        }
        static func marker(for dropped: Item, followedBy later: some Sequence<Item>) -> Lost {
            switch dropped {
            case .chunk(let stream, let n): Lost(stream: stream, samples: n)
            case .note: Lost(stream: later.lazy.compactMap { if case .chunk(let s, _) = $0 { s } else { nil } }
                                .first(where: { _ in true }) ?? -1, samples: 0)
            }
        }
        static func merge(_ dropped: Item, into marker: inout Lost) -> Bool {
            if case .chunk(_, let n) = dropped { marker.samples += n }
            return true
        }
        static var mergesAcrossElements: Bool { false }
    }

    @Test func eachLaneIsBoundedAlone() {
        var q = DropOldestQueue<TwoLanes>(capacities: [100, 2])
        q.push(.note("a"))
        q.push(.note("b"))
        q.push(.chunk(stream: 7, samples: 60))
        q.push(.note("c"))                       // lane 1 over: "a" goes; its marker names the next chunk's stream
        #expect(q.count(inLane: 1) == 2 && q.count(inLane: 0) == 1)
        q.push(.chunk(stream: 8, samples: 60))   // lane 0 over: the first chunk goes, the notes stay
        #expect(drain(&q) == ["lost7:0", "b", "lost7:60", "c", "c8:60"])
    }

    func drain<P: DropOldestPolicy>(_ q: inout DropOldestQueue<P>) -> [String] where P.Element == Item, P.Marker == Lost {
        var out: [String] = []
        while let entry = q.pop() {
            switch entry {
            case .element(.chunk(let s, let n)): out.append("c\(s):\(n)")
            case .element(.note(let t)): out.append(t)
            case .marker(let lost): out.append("lost\(lost.stream):\(lost.samples)")
            }
        }
        return out
    }

    func shed<P: DropOldestPolicy>(_ s: DropOldestQueue<P>.Shed) -> [Int] { [s.count, s.weight] }

    @Test func staysWithinItsWeightByDroppingTheOldest() {
        var q = DropOldestQueue<Adjacent>(capacity: 100)
        #expect(q.push(.chunk(stream: 1, samples: 40)).count == 0)
        #expect(q.push(.chunk(stream: 1, samples: 40)).count == 0)
        #expect(shed(q.push(.chunk(stream: 1, samples: 30))) == [1, 40])
        #expect(q.weight(inLane: 0) == 70)
        #expect(shed(q.push(.chunk(stream: 1, samples: 50))) == [1, 40])
        // Both drops sit at the front, merged into one marker.
        #expect(drain(&q) == ["lost1:80", "c1:30", "c1:50"])
        #expect(q.isEmpty && q.weight(inLane: 0) == 0 && q.count(inLane: 0) == 0)
    }

    @Test func theNewestElementIsKeptEvenWhenItAloneExceedsTheCapacity() {
        var q = DropOldestQueue<Adjacent>(capacity: 10)
        q.push(.chunk(stream: 1, samples: 5))
        #expect(shed(q.push(.chunk(stream: 1, samples: 50))) == [1, 5])
        #expect(drain(&q) == ["lost1:5", "c1:50"])
    }

    @Test func keptElementsNeverDropAndBoundMergingWhenAdjacentOnly() {
        var q = DropOldestQueue<Adjacent>(capacity: 10)
        q.push(.chunk(stream: 1, samples: 10))
        q.push(.note("deviceLost"))
        q.push(.chunk(stream: 1, samples: 10))   // drops the first chunk
        q.push(.chunk(stream: 1, samples: 10))   // drops the second: the note stands between the two losses
        #expect(q.keptCount == 1)
        #expect(drain(&q) == ["lost1:10", "deviceLost", "lost1:10", "c1:10"])
    }

    @Test func markersMergePerStreamAcrossKeptElementsWhenAllowed() {
        var q = DropOldestQueue<AcrossKept>(capacity: 2)
        q.push(.chunk(stream: 1, samples: 1))
        q.push(.chunk(stream: 2, samples: 1))
        q.push(.note("answer"))
        for _ in 0..<4 {
            q.push(.chunk(stream: 1, samples: 1))
            q.push(.chunk(stream: 2, samples: 1))
        }
        // Each stream's losses merge into its first marker; the answer keeps its place.
        #expect(drain(&q) == ["lost1:4", "lost2:4", "answer", "c1:1", "c2:1"])
    }

    @Test func popAllEmptiesAndCompactionKeepsOrder() {
        var q = DropOldestQueue<Adjacent>(capacity: 1_000_000)
        for k in 0..<1000 { q.push(.chunk(stream: 0, samples: k + 1)) }
        for k in 0..<600 { #expect(q.pop().map { if case .element(.chunk(_, let n)) = $0 { n } else { -1 } } == k + 1) }
        let rest = q.popAll()
        #expect(rest.count == 400)
        #expect(q.isEmpty && q.count == 0 && q.weight(inLane: 0) == 0)
    }

    /// A consumer that stops reading: each push drops the element right after the leading marker, which moves into
    /// its slot (O(1), no shifting of the queue); order, counts and weights stay exact, and the storage is compacted.
    @Test func aStalledConsumerKeepsOneLeadingMarkerAndTheNewest() {
        var q = DropOldestQueue<Adjacent>(capacity: 3)
        for _ in 0..<10_000 { q.push(.chunk(stream: 0, samples: 1)) }
        #expect(q.count == 4 && q.weight(inLane: 0) == 3 && q.count(inLane: 0) == 3)
        #expect(q.pop().map { if case .marker(let lost) = $0 { lost.samples } else { -1 } } == 9_997)
        // After a read, new losses (3 kept + 10 pushed, 2 kept) gather in one new leading marker.
        for _ in 0..<5 { q.push(.chunk(stream: 0, samples: 2)) }
        #expect(drain(&q) == ["lost0:11", "c0:2"])
    }
}
