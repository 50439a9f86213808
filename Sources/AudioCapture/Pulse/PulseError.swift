import CPulseSimple

/// PulseAudio error codes → Swift. The one place where libpulse errors are interpreted.
enum PulseError {
    /// E.g. "pa_simple_read: Connection terminated (11)".
    static func describe(_ code: Int32, _ operation: String) -> String {
        let text = pa_strerror(code).map { String(cString: $0) } ?? "unknown error"
        return "\(operation): \(text) (\(code))"
    }

    /// A failed connect, open or read: bad arguments are fatal; everything else (no server, connection
    /// terminated, no such source yet, timeouts) means the server or source is gone for now, so reopen later.
    static func failure(_ code: Int32, _ operation: String) -> DeviceFailure {
        switch UInt32(bitPattern: code) {
        case PA_ERR_INVALID.rawValue, PA_ERR_NOTSUPPORTED.rawValue, PA_ERR_INVALIDSERVER.rawValue,
             PA_ERR_PROTOCOL.rawValue, PA_ERR_VERSION.rawValue:
            .fatal(CaptureError(.unavailable, describe(code, operation)))
        default:
            .lost(describe(code, operation))
        }
    }
}
