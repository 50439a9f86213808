#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A socket-path problem, told in one line.
package struct SocketPathError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// Plain POSIX work around the socket file: the stale-socket check before binding, and ownership after.
/// Each C call is wrapped once here; `EINTR` is retried.
package enum SocketAccess {
    /// Fails (one line) if `path` cannot be bound: its directory is missing, it exists and is not a socket, or a
    /// daemon answers on it. Changes nothing.
    package static func checkBindable(_ path: String) throws(SocketPathError) {
        try inspect(path, removeStale: false)
    }

    /// Makes `path` free to bind: ``checkBindable(_:)``, then removes a stale socket file nobody answers on.
    static func prepare(_ path: String) throws(SocketPathError) {
        try inspect(path, removeStale: true)
    }

    private static func inspect(_ path: String, removeStale: Bool) throws(SocketPathError) {
        guard !path.isEmpty else { throw SocketPathError("the socket path is empty") }
        guard path.utf8.count < 108 else {
            throw SocketPathError("\(path): socket paths must be shorter than 108 bytes (sun_path)")
        }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var info = stat()
        if !directory.isEmpty, stat(directory, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
            throw SocketPathError("\(path): directory '\(directory)' does not exist")
        }
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw SocketPathError("\(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw SocketPathError("\(path) exists and is not a socket; refusing to replace it")
        }
        if answers(path) {
            throw SocketPathError("\(path): another daemon is already serving this socket")
        }
        guard removeStale else { return }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw SocketPathError("\(path): cannot remove the stale socket: \(String(cString: strerror(errno)))")
        }
    }

    /// True if something accepts connections on the Unix socket at `path`.
    package static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                retryingEINTR { connect(fd, pointer, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        return result == 0
    }

    /// Sets the socket file's mode and (optionally) group.
    static func setOwnership(_ path: String, mode: UInt32, group: String?) throws(SocketPathError) {
        if let group {
            let gid = try groupID(group)
            guard chown(path, uid_t.max, gid) == 0 else {   // uid −1: keep the owner
                throw SocketPathError("\(path): cannot give the socket to group '\(group)': \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw SocketPathError("\(path): cannot set mode \(String(mode, radix: 8)): \(String(cString: strerror(errno)))")
        }
    }

    /// A group name or number to its gid.
    package static func groupID(_ group: String) throws(SocketPathError) -> gid_t {
        if let number = UInt32(group) { return gid_t(number) }
        guard let entry = getgrnam(group) else { throw SocketPathError("no group named '\(group)'") }
        return entry.pointee.gr_gid
    }

    /// A user name or number to its uid.
    package static func userID(_ user: String) throws(SocketPathError) -> uid_t {
        if let number = UInt32(user) { return uid_t(number) }
        guard let entry = getpwnam(user) else { throw SocketPathError("no user named '\(user)'") }
        return entry.pointee.pw_uid
    }

    static func remove(_ path: String) {
        _ = unlink(path)
    }

    private static func retryingEINTR(_ body: () -> Int32) -> Int32 {
        while true {
            let result = body()
            if result == -1 && errno == EINTR { continue }
            return result
        }
    }
}
