import NIOCore
import NIOHPACK
import NIOHTTP2

/// The lengths of the gRPC messages in a request stream, read from their prefixes: each message is a flag byte, a
/// 4-byte big-endian length, then that many bytes. Fed the stream's DATA in order, split anywhere; nothing is
/// buffered (the messages themselves are skipped).
struct GRPCMessageLengths: Sendable, Equatable {
    /// Prefix bytes of the next message read so far (0…4).
    private var prefixRead = 0
    /// The length being assembled from the prefix.
    private var length = 0
    /// Bytes of the current message still to come.
    private var remaining = 0

    init() {}

    /// Reads `bytes`; returns the length of the first message it announces over `limit`, if any (the reading stops
    /// there).
    mutating func scan(_ bytes: some Collection<UInt8>, limit: Int) -> Int? {
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if remaining > 0 {
                let skip = min(remaining, bytes.distance(from: index, to: bytes.endIndex))
                index = bytes.index(index, offsetBy: skip)
                remaining -= skip
                continue
            }
            let byte = bytes[index]
            index = bytes.index(after: index)
            if prefixRead > 0 { length = length << 8 | Int(byte) }     // byte 0 is the compressed flag
            prefixRead += 1
            guard prefixRead == 5 else { continue }
            if length > limit { return length }
            remaining = length
            prefixRead = 0
            length = 0
        }
        return nil
    }
}

/// Ends a call whose request announces a message over the size limit with RESOURCE_EXHAUSTED, naming both sizes.
///
/// grpc-swift's transport checks the same limit but answers with RST_STREAM CANCEL, which tells the caller nothing
/// (issue #19, item 9). This handler sits in each HTTP/2 stream's pipeline in front of the transport's, reads the
/// message prefixes as DATA arrives, and on the first message over the limit sends the status itself — as
/// trailers, or as a trailers-only response if no response headers went out yet — then closes the stream, which
/// ends the call's handler. The message is never buffered.
final class MessageSizeLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let limit: Int
    private var lengths = GRPCMessageLengths()
    private var responseHeadersSent = false
    private var refused = false

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if case .data(let frame) = unwrapInboundIn(data), case .byteBuffer(let bytes) = frame.data,
           let length = lengths.scan(bytes.readableBytesView, limit: limit) {
            refuse(context: context, length: length)
            return
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // After the refusal the stream is over: the call's own writes have nowhere to go.
        guard !refused else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if case .headers = unwrapOutboundIn(data) { responseHeadersSent = true }
        context.write(data, promise: promise)
    }

    private func refuse(context: ChannelHandlerContext, length: Int) {
        refused = true
        var headers: HPACKHeaders = responseHeadersSent ? [:] : [":status": "200", "content-type": "application/grpc"]
        headers.add(name: "grpc-status", value: "\(RPCStatusCode.resourceExhausted)")
        // ASCII without '%': no percent-encoding needed (gRPC over HTTP/2, "grpc-message").
        headers.add(name: "grpc-message",
                    value: "a request message of \(length) bytes is over the limit of \(limit) bytes")
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        // The client may still be sending the oversized message: RST_STREAM NO_ERROR after a complete response tells
        // it to stop (RFC 9113, 8.1) without hiding the status. Closing the stream channel alone would send
        // RST_STREAM CANCEL, which a client may read before the trailers (seen on a loaded machine).
        let ended = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.rstStream(.noError)), promise: ended)
        ended.futureResult.whenComplete { _ in context.close(promise: nil) }
    }

    /// RESOURCE_EXHAUSTED's number on the wire.
    private enum RPCStatusCode {
        static let resourceExhausted = 8
    }
}
