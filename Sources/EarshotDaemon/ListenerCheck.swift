import EarshotTypes
#if canImport(Glibc)
import Glibc
#endif

/// The TCP listeners' addresses checked before the model loads: each is bound (with `SO_REUSEADDR`, as SwiftNIO
/// binds), listened on and released, all held at once so that two options naming one port fail too. Each C call is
/// made once here.
enum ListenerCheck {
    /// Fails, naming the option and the address, if any of `listeners` cannot be bound now. Port 0 always can.
    static func checkBindable(_ listeners: [(option: String, address: ListenAddress)]) throws(DaemonError) {
        var held: [(option: String, address: ListenAddress, descriptor: Int32)] = []
        defer { for h in held { close(h.descriptor) } }
        for (option, address) in listeners where address.port != 0 {
            if let earlier = held.first(where: { $0.address == address }) {
                throw DaemonError("\(option) \(address): \(earlier.option) already uses this address")
            }
            let descriptor = try bind(address, option: option)
            held.append((option, address, descriptor))
        }
    }

    /// A socket bound to `address` (the first address `getaddrinfo` gives for its host, as SwiftNIO takes it).
    private static func bind(_ address: ListenAddress, option: String) throws(DaemonError) -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(address.host, String(address.port), &hints, &found)
        guard resolved == 0, let first = found else {
            let reason = String(cString: gai_strerror(resolved))
            throw DaemonError("\(option) \(address): cannot resolve '\(address.host)': \(reason)")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else {
            throw DaemonError("\(option) \(address): cannot make a socket: \(String(cString: strerror(errno)))")
        }
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        // Listening (for a moment) makes a wildcard address and a specific one on the same port collide too.
        guard Glibc.bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(descriptor, 1) == 0
        else {
            let reason = errno == EADDRINUSE ? "the address is already in use" : String(cString: strerror(errno))
            close(descriptor)
            throw DaemonError("\(option) \(address): cannot listen: \(reason)")
        }
        return descriptor
    }
}
