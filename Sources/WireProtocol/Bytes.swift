/// Little-endian primitives for frame bodies. Every multi-byte number on the wire is little-endian; a string is a
/// `u16` byte count followed by that many bytes of UTF-8.

/// Appends wire primitives to a byte array.
package struct ByteWriter: Sendable {
    package private(set) var bytes: [UInt8]

    package init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    package mutating func u8(_ value: UInt8) { bytes.append(value) }
    package mutating func u16(_ value: UInt16) { integer(value) }
    package mutating func u32(_ value: UInt32) { integer(value) }
    package mutating func u64(_ value: UInt64) { integer(value) }
    package mutating func i64(_ value: Int64) { integer(value) }
    package mutating func f32(_ value: Float) { integer(value.bitPattern) }

    /// A `u16` byte count and the UTF-8 bytes. Longer strings are cut at a character boundary.
    package mutating func string(_ value: String) {
        var utf8 = Array(value.utf8)
        if utf8.count > Int(UInt16.max) {
            var cut = Int(UInt16.max)
            while cut > 0 && (utf8[cut] & 0xC0) == 0x80 { cut -= 1 }  // not inside a multi-byte character
            utf8.removeSubrange(cut...)
        }
        u16(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    package mutating func raw<C: Collection<UInt8>>(_ data: C) { bytes.append(contentsOf: data) }

    package mutating func reserve(_ extra: Int) { bytes.reserveCapacity(bytes.count + extra) }

    private mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends `values` as `payload`, little-endian.
    package mutating func values(_ values: UnsafeBufferPointer<Float>, as payload: PayloadType) {
        payload.append(values, to: &bytes)
    }
}

/// Reads wire primitives from a frame body; every read past the end throws `malformedFrame`.
package struct ByteReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int
    /// Names the message in errors ("subscribe", "welcome", …).
    private let context: String

    package init(_ bytes: ArraySlice<UInt8>, context: String) {
        self.bytes = bytes
        self.index = bytes.startIndex
        self.context = context
    }

    package var remaining: Int { bytes.endIndex - index }

    package mutating func u8() throws(ProtocolError) -> UInt8 { try integer(UInt8.self) }
    package mutating func u16() throws(ProtocolError) -> UInt16 { try integer(UInt16.self) }
    package mutating func u32() throws(ProtocolError) -> UInt32 { try integer(UInt32.self) }
    package mutating func u64() throws(ProtocolError) -> UInt64 { try integer(UInt64.self) }
    package mutating func i64() throws(ProtocolError) -> Int64 { try integer(Int64.self) }
    package mutating func f32() throws(ProtocolError) -> Float { Float(bitPattern: try integer(UInt32.self)) }

    package mutating func string() throws(ProtocolError) -> String {
        let count = Int(try u16())
        let slice = try take(count)
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw ProtocolError(.malformedFrame, "\(context): a string field is not valid UTF-8")
        }
        return text
    }

    /// The next `count` bytes.
    package mutating func take(_ count: Int) throws(ProtocolError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else {
            throw ProtocolError(.malformedFrame, "\(context): body ends early (needs \(count) more bytes, has \(remaining))")
        }
        defer { index += count }
        return bytes[index..<(index + count)]
    }

    /// Everything not read yet.
    package mutating func rest() -> ArraySlice<UInt8> {
        defer { index = bytes.endIndex }
        return bytes[index...]
    }

    /// Fails if bytes are left over: v1 bodies have an exact size.
    package func finish() throws(ProtocolError) {
        guard remaining == 0 else {
            throw ProtocolError(.malformedFrame, "\(context): \(remaining) unexpected bytes after the last field")
        }
    }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(ProtocolError) -> T {
        let size = MemoryLayout<T>.size
        let slice = try take(size)
        var value: T = 0
        for (shift, byte) in slice.enumerated() { value |= T(truncatingIfNeeded: byte) << (8 * shift) }
        return value
    }
}
