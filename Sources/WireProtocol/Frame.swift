/// The unit of the wire: a length prefix, a type byte and a body (docs/protocol.md, "Frames").
///
///     0        1        2        3        4        5
///     +--------+--------+--------+--------+--------+----------- … ----------+
///     |     length: u32 LE = 1 + body bytes        |  type  |  body          |
///     +--------+--------+--------+--------+--------+----------- … ----------+
///
/// `length` counts the type byte and the body, never itself; it is at least 1 and at most the receiver's
/// `maxFrameLength`.
package struct Frame: Sendable, Equatable {
    /// Bytes before the type: the length prefix.
    package static let prefixLength = 4

    package var type: UInt8
    package var body: ArraySlice<UInt8>

    package init(type: UInt8, body: ArraySlice<UInt8>) {
        self.type = type
        self.body = body
    }

    /// The whole frame, prefix included.
    package var bytes: [UInt8] {
        Frame.encode(type: type) { $0.raw(body) }
    }

    /// Builds a frame: `body` writes the body; the length prefix is filled in afterwards.
    package static func encode(type: UInt8, capacity: Int = 64, _ body: (inout ByteWriter) -> Void) -> [UInt8] {
        var writer = ByteWriter(capacity: prefixLength + 1 + capacity)
        writer.u32(0)
        writer.u8(type)
        body(&writer)
        var bytes = writer.bytes
        let length = UInt32(bytes.count - prefixLength)
        withUnsafeBytes(of: length.littleEndian) { raw in
            for i in 0..<prefixLength { bytes[i] = raw[i] }
        }
        return bytes
    }
}

/// The single-step frame decoder both sides use: append whatever bytes arrived, then call ``next()`` until it
/// returns nil. It holds at most one partial frame plus whatever was appended; a length prefix above
/// `maxFrameLength` fails as soon as its four bytes are in, before any body is buffered.
///
/// After a failure the decoder stays failed: every later ``next()`` throws the same error (the connection is
/// beyond repair, since frame boundaries are lost).
package struct FrameDecoder: Sendable {
    /// The largest `length` accepted (type byte + body).
    package let maxFrameLength: Int

    private var buffer: [UInt8] = []
    /// Where the unread bytes of `buffer` begin.
    private var start = 0
    private var failure: ProtocolError?

    package init(maxFrameLength: Int) {
        precondition(maxFrameLength >= 1, "maxFrameLength must be at least 1")
        self.maxFrameLength = maxFrameLength
    }

    /// Bytes appended but not yet returned in a frame.
    package var bufferedByteCount: Int { buffer.count - start }

    /// Appends received bytes (any amount, any split).
    package mutating func append<C: Collection<UInt8>>(_ bytes: C) {
        guard failure == nil else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    package mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// One step: the next complete frame, or nil when more bytes are needed.
    package mutating func next() throws(ProtocolError) -> Frame? {
        if let failure { throw failure }
        guard bufferedByteCount >= Frame.prefixLength else { return nil }
        var length = 0
        for i in 0..<Frame.prefixLength { length |= Int(buffer[start + i]) << (8 * i) }
        guard length >= 1 else {
            return try fail(ProtocolError(.malformedFrame, "a frame's length prefix is 0 (it counts the type byte)"))
        }
        guard length <= maxFrameLength else {
            return try fail(ProtocolError(.frameTooLarge,
                                          "a frame of \(length) bytes exceeds the limit of \(maxFrameLength)"))
        }
        guard bufferedByteCount >= Frame.prefixLength + length else { return nil }
        let typeIndex = start + Frame.prefixLength
        let frame = Frame(type: buffer[typeIndex], body: buffer[(typeIndex + 1)..<(typeIndex + length)])
        start = typeIndex + length
        return frame
    }

    private mutating func fail(_ error: ProtocolError) throws(ProtocolError) -> Frame? {
        failure = error
        buffer = []
        start = 0
        throw error
    }

    /// Drops consumed bytes once they are most of the buffer (amortised O(1) per byte).
    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 4096 && start * 2 >= buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }
}
