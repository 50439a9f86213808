/// What a source's audio does when whoever takes it falls behind, chosen once per source and applied at every queue
/// on its way to the encoder (the capture queue, a live stream's backlog).
///
/// A microphone cannot be asked to wait: it is delivered in ``realTime``, and what cannot be kept is dropped oldest
/// first and reported. A pipe or a file read as fast as possible can wait: it is delivered with ``backpressure``, the
/// reader stops reading while the queues are full, so a pipe's writer blocks and nothing is lost.
public enum DeliveryPolicy: String, Sendable, Equatable, CustomStringConvertible {
    /// Never wait for the consumer; past a queue's bound the oldest audio is dropped and the loss reported.
    case realTime = "real-time"
    /// Wait for the consumer; nothing is dropped.
    case backpressure

    public var description: String { rawValue }
}
