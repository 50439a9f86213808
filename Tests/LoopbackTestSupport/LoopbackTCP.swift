#if canImport(Glibc)
import Glibc
#endif

/// Plain POSIX TCP on 127.0.0.1 for tests that need raw clients (no NIO, no HTTP): a free port, a listener, a
/// connection that says nothing, and whether the server has closed it. Every test target that pokes a listener
/// directly uses these.
package enum LoopbackTCP {
    /// A setup call failed.
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    package static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A port nobody listens on right now (bound to 0, read back, closed).
    package static func freePort() throws -> Int {
        let (fd, port) = try bound(listening: false)
        close(fd)
        return port
    }

    /// A socket listening on a free port, and the port (the caller closes it).
    package static func listener() throws -> (fd: Int32, port: Int) {
        try bound(listening: true)
    }

    private static func bound(listening: Bool) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 && (!listening || listen(fd, 16) == 0)
            }
        }
        guard ok else {
            let error = errno
            close(fd)
            throw Failure(description: "no free port on 127.0.0.1: errno \(error)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A connected socket to 127.0.0.1:`port`, or nil if nothing accepts there.
    package static func connect(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = address(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        if connected { return fd }
        close(fd)
        return nil
    }

    /// ``connect(_:)``, or a thrown ``Failure`` naming the port.
    package static func connected(_ port: Int) throws -> Int32 {
        guard let fd = connect(port) else { throw Failure(description: "connect to 127.0.0.1:\(port) failed") }
        return fd
    }

    /// Whether the server closed `fd` (end of stream or reset), waiting up to `timeout` seconds for it (0: now,
    /// without waiting). Whatever the server sent first (gRPC's HTTP/2 SETTINGS, a refusal) is read and dropped.
    package static func closedByServer(_ fd: Int32, within timeout: Double = 0) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline - ContinuousClock.now
            let milliseconds = max(0, Int32(left.components.seconds * 1000
                                            + left.components.attoseconds / 1_000_000_000_000_000))
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, milliseconds) == 1 else { return false }
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { continue }
            if n == 0 { return true }
            if errno != EAGAIN && errno != EWOULDBLOCK { return true }
        }
    }
}
