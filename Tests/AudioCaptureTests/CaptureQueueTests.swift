import Testing
@testable import AudioCapture

/// The queue state machine, without threads or I/O.
@Suite struct CaptureQueueTests {
    func audio(_ first: Int64, _ count: Int = 10) -> CaptureEvent {
        .audio(AudioChunk(samples: [Float](repeating: 0, count: count), firstSample: first))
    }

    func drain(_ queue: inout CaptureQueue) -> [CaptureEvent] {
        var out: [CaptureEvent] = []
        while case .event(let e) = queue.pop() { out.append(e) }
        return out
    }

    @Test func newestWinsDropsTheOldestAndSaysWhereAndHowMuch() {
        var queue = CaptureQueue(policy: .newestWins(capacity: 3))
        for i in 0..<3 { #expect(queue.push(audio(Int64(i * 10))) == .enqueued) }
        #expect(queue.push(audio(30)) == .enqueuedDroppingOldest(samples: 10))
        #expect(queue.push(audio(40)) == .enqueuedDroppingOldest(samples: 10))
        #expect(queue.audioCount == 3)
        var flagged = AudioChunk(samples: [Float](repeating: 0, count: 10), firstSample: 20)
        flagged.flags = [.afterDrop]
        #expect(drain(&queue) == [
            .dropped(QueueDrop(chunks: 2, samples: 20, firstSample: 0)),   // adjacent drops merge
            .audio(flagged),
            audio(30),
            audio(40),
        ])
        #expect(queue.pop() == .empty)
    }

    @Test func eventsSurviveAndSplitDropMarkers() {
        var queue = CaptureQueue(policy: .newestWins(capacity: 2))
        _ = queue.push(audio(0))
        let lost = CaptureEvent.deviceLost(DeviceLoss(at: 10, reason: "gone"))
        _ = queue.push(lost)
        _ = queue.push(audio(100))
        _ = queue.push(audio(110))   // drops audio(0): the marker takes its place, before the event
        _ = queue.push(audio(120))   // drops audio(100): a second marker, after the event
        let events = drain(&queue)
        #expect(events.count == 5)
        #expect(events[0] == .dropped(QueueDrop(chunks: 1, samples: 10, firstSample: 0)))
        #expect(events[1] == lost)
        #expect(events[2] == .dropped(QueueDrop(chunks: 1, samples: 10, firstSample: 100)))
        if case .audio(let c) = events[3] { #expect(c.firstSample == 110 && c.flags == [.afterDrop]) }
        if case .audio(let c) = events[4] { #expect(c.firstSample == 120 && c.flags == []) }
    }

    @Test func backpressureRefusesWhenFullAndNeverDrops() {
        var queue = CaptureQueue(policy: .backpressure(capacity: 2))
        #expect(queue.push(audio(0)) == .enqueued)
        #expect(queue.push(audio(10)) == .enqueued)
        #expect(queue.push(audio(20)) == .full)
        #expect(queue.push(.deviceRestored(StreamFormat(sampleFormat: .s16le, sampleRate: 16000, channels: 1)))
                == .enqueued)   // events are never refused
        #expect(queue.pop() == .event(audio(0)))
        #expect(queue.push(audio(20)) == .enqueued)
        #expect(drain(&queue).count == 3)
    }

    @Test func tooManyEventsDropTheOldestEvents() {
        var queue = CaptureQueue(policy: .newestWins(capacity: 4), eventCapacity: 2)
        for i in 0..<4 { _ = queue.push(.deviceLost(DeviceLoss(at: Int64(i), reason: "\(i)"))) }
        let events = drain(&queue)
        #expect(events == [
            .dropped(QueueDrop(chunks: 0, samples: 0, firstSample: 0, events: 2)),
            .deviceLost(DeviceLoss(at: 2, reason: "2")),
            .deviceLost(DeviceLoss(at: 3, reason: "3")),
        ])
    }

    @Test func finishDeliversWhatIsPendingThenTheEnd() {
        var queue = CaptureQueue(policy: .newestWins(capacity: 4))
        _ = queue.push(audio(0))
        queue.finish(error: nil)
        #expect(queue.push(audio(10)) == .closed)
        #expect(queue.pop() == .event(audio(0)))
        #expect(queue.pop() == .finished)
        #expect(queue.pop() == .finished)

        var failing = CaptureQueue(policy: .newestWins(capacity: 4))
        let error = CaptureError(.gaveUp, "gone for good")
        failing.finish(error: error)
        #expect(failing.pop() == .failed(error))
    }

    @Test func closeDiscardsEverything() {
        var queue = CaptureQueue(policy: .backpressure(capacity: 4))
        _ = queue.push(audio(0))
        queue.close()
        #expect(queue.pop() == .finished)
        #expect(queue.push(audio(10)) == .closed)
        #expect(queue.pendingCount == 0)
    }
}

/// The queue behind a live session: a consumer that does not read loses the oldest audio, never blocks capture.
@Suite struct CaptureChannelTests {
    @Test func slowConsumerGetsDropsCountedAndReported() async throws {
        let channel = CaptureChannel(policy: .newestWins(capacity: 5))
        for i in 0..<20 {
            #expect(channel.send(.audio(AudioChunk(samples: [Float](repeating: 0, count: 160), firstSample: Int64(i * 160)))))
        }
        #expect(channel.statistics.chunksDropped == 15)
        #expect(channel.statistics.samplesDropped == 15 * 160)
        channel.finish(error: nil)
        let events = try await withTimeout(5, "draining") {
            var events: [CaptureEvent] = []
            while let e = try await channel.receive() { events.append(e) }
            return events
        }
        #expect(events.first == .dropped(QueueDrop(chunks: 15, samples: 2400, firstSample: 0)))
        #expect(events.chunks.map(\.firstSample) == [2400, 2560, 2720, 2880, 3040])
    }

    @Test func waitingConsumerIsWokenAndCancellable() async throws {
        let channel = CaptureChannel(policy: .newestWins(capacity: 5))
        let waiting = Task { try await channel.receive() }
        try await Task.sleep(for: .milliseconds(50))
        channel.send(.audio(AudioChunk(samples: [1], firstSample: 0)))
        let got = try await withTimeout(5, "wake") { try await waiting.value }
        #expect(got == .audio(AudioChunk(samples: [1], firstSample: 0)))

        let cancelled = Task { try await channel.receive() }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }

        let stopped = Task { try await channel.receive() }
        try await Task.sleep(for: .milliseconds(50))
        channel.stop()
        let end = try await withTimeout(5, "stop") { try await stopped.value }
        #expect(end == nil)
        #expect(channel.send(.audio(AudioChunk(samples: [1], firstSample: 1))) == false)
    }
}
