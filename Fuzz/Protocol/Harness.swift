/// libFuzzer target for the wire protocol: the frame decoder and both message parsers, compiled into one module with
/// `Sources/WireProtocol` (so `package` symbols are visible), with ASan, by `scripts/fuzz.sh Protocol [SECONDS]`.
///
/// `corpus/` holds one seed per message kind (each prefixed by the control byte below), a zero length and an
/// oversize prefix.
///
/// The input's first byte picks how the rest is cut into `append` calls (the decoder must give the same frames
/// whatever the split) and the receiver's `maxFrameLength`; the rest is the byte stream. Every frame is parsed as a
/// client and as a server message. Checked, beyond "no crash": the decoder yields the same frames at any split; a
/// failed decoder holds no bytes and keeps failing with the same error; every message that parses encodes back to
/// the bytes of its frame (client) or parses and encodes back to the same bytes (server).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let control = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let limits = [1, 5, 64, 4096, 1 << 20]
    let limit = limits[Int(control & 0x07) % limits.count]
    let chunk = Int(control >> 3) + 1   // 1…32 bytes per append

    let whole = decodeAll(bytes, limit: limit, chunk: bytes.count + 1)
    let split = decodeAll(bytes, limit: limit, chunk: chunk)
    precondition(whole.frames == split.frames && whole.failure == split.failure,
                 "the decoder's frames depend on how the bytes were split")

    for frame in whole.frames {
        if let message = try? ClientMessage(frame: frame) {
            let encoded = message.encoded()
            precondition(encoded == frame.bytes, "a client message does not encode back to its frame")
        }
        if let message = try? ServerMessage(frame: frame) {
            if case .embedding(let embedding) = message {
                precondition(embedding.values().count == embedding.width, "an embedding decodes to the wrong width")
            }
            let encoded = message.encoded()
            var decoder = FrameDecoder(maxFrameLength: max(limit, encoded.count))
            decoder.append(encoded)
            guard let again = try? decoder.next(), let reparsed = try? ServerMessage(frame: again) else {
                preconditionFailure("a server message's encoding does not parse")
            }
            // Bytes, not values: a NaN `tokensPerSecond` is not equal to itself.
            precondition(reparsed.encoded() == encoded, "a server message does not survive encode → parse")
        }
    }
    return 0
}

/// Frames decoded from `bytes` appended `chunk` bytes at a time, and the error that stopped the decoder, if any.
private func decodeAll(_ bytes: [UInt8], limit: Int, chunk: Int)
    -> (frames: [Frame], failure: ErrorCode?) {
    var decoder = FrameDecoder(maxFrameLength: limit)
    var frames: [Frame] = []
    var offset = 0
    repeat {
        let end = min(bytes.count, offset + chunk)
        decoder.append(bytes[offset..<end])
        offset = end
        do {
            while let frame = try decoder.next() { frames.append(frame) }
        } catch {
            precondition(decoder.bufferedByteCount == 0, "a failed decoder still holds bytes")
            decoder.append(bytes)
            do {
                _ = try decoder.next()
                preconditionFailure("a failed decoder decoded again")
            } catch let again {
                precondition(again.code == error.code, "a failed decoder changed its error")
            }
            return (frames, error.code)
        }
    } while offset < bytes.count
    return (frames, nil)
}
