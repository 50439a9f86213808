import Foundation
import WireProtocol
#if canImport(Glibc)
import Glibc
#endif

/// A client on a plain blocking socket that speaks (or breaks) the protocol byte by byte, reading only when told:
/// for malformed-input tests and for a subscriber that stops reading.
final class RawClient {
    let fd: Int32
    private var decoder = FrameDecoder(maxFrameLength: 64 << 20)
    private(set) var closedByServer = false

    init(_ path: String) throws {
        fd = UnixSocket.connect(path)
        guard fd >= 0 else { throw TestFailure("cannot connect to \(path)") }
    }

    deinit { close(fd) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool { UnixSocket.send(fd, bytes) }

    func send(_ message: ClientMessage) { send(message.encoded()) }

    /// Sends hello and reads the welcome.
    func handshake() throws -> Welcome {
        send(.hello(Hello(clientName: "raw test client")))
        guard case .welcome(let welcome)? = try next(timeout: 10) else { throw TestFailure("no welcome") }
        return welcome
    }

    /// No more bytes from us (the server sees end of input).
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// The next server message; nil once the server closed the connection. Throws on timeout or a bad frame.
    func next(timeout: Double) throws -> ServerMessage? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            if let frame = try decoder.next() { return try ServerMessage(frame: frame) }
            if closedByServer { return nil }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let bytes = UnixSocket.receive(fd, timeout: left) else {
                throw TestFailure("no frame from the server within \(timeout) s")
            }
            if bytes.isEmpty { closedByServer = true } else { decoder.append(bytes) }
        }
    }

    /// Reads everything until the server closes (≤ `timeout` s).
    func readToEnd(timeout: Double) throws -> [ServerMessage] {
        var messages: [ServerMessage] = []
        let deadline = Date(timeIntervalSinceNow: timeout)
        while let message = try next(timeout: max(0.01, deadline.timeIntervalSinceNow)) { messages.append(message) }
        return messages
    }
}
