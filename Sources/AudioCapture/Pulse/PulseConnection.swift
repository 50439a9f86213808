import AudioCore
import CPulseSimple

/// A PulseAudio source as the server describes it.
public struct PulseSourceInfo: Sendable, Equatable {
    /// The name to use in `pulse:NAME`.
    public var name: String
    public var description: String
    /// The source's own sample format, rate and channel count, e.g. "s16le 2ch 48000Hz".
    public var sampleSpec: String
    /// The same as a ``StreamFormat`` when the sample format is s16le, s32le or float32le.
    public var format: StreamFormat?
    /// The sample rate and channel count.
    public var rate: Int
    public var channels: Int
    /// True for a sink's monitor (what is being played), not a microphone.
    public var isMonitor: Bool
}

/// The one owner of a `pa_mainloop` and a `pa_context` for short introspection queries (the format of a source,
/// the list of sources), each bounded by a deadline: a server that does not answer makes the query throw,
/// never hang. Never autospawns a server. Used by one thread.
final class PulseConnection {
    private let mainloop: OpaquePointer
    private let context: OpaquePointer
    private let deadline: ContinuousClock.Instant
    private let timeout: Duration

    /// Connects to `server` (nil: `$PULSE_SERVER` or the default) within `timeout`.
    init(server: String?, timeout: Duration) throws(DeviceFailure) {
        guard let mainloop = pa_mainloop_new() else {
            throw .fatal(CaptureError(.unavailable, "pa_mainloop_new failed"))
        }
        guard let context = pa_context_new(pa_mainloop_get_api(mainloop), "earshot") else {
            pa_mainloop_free(mainloop)
            throw .fatal(CaptureError(.unavailable, "pa_context_new failed"))
        }
        self.mainloop = mainloop
        self.context = context
        self.timeout = timeout
        deadline = .now + timeout
        if pa_context_connect(context, server, PA_CONTEXT_NOAUTOSPAWN, nil) < 0 {
            throw PulseError.failure(pa_context_errno(context), "pa_context_connect \(server ?? "(default server)")")
        }
        try run { () throws(DeviceFailure) -> Bool in
            let state = pa_context_get_state(context)
            if state == PA_CONTEXT_READY { return true }
            if state == PA_CONTEXT_FAILED || state == PA_CONTEXT_TERMINATED {
                throw PulseError.failure(pa_context_errno(context), "pa_context_connect \(server ?? "(default server)")")
            }
            return false
        }
    }

    deinit {
        pa_context_disconnect(context)
        pa_context_unref(context)
        pa_mainloop_free(mainloop)
    }

    /// The server's default source name (`pa_context_get_server_info`).
    func defaultSourceName() throws(DeviceFailure) -> String? {
        let box = Collector<String?>()
        let operation = pa_context_get_server_info(context, { _, info, userdata in
            let box = Unmanaged<Collector<String?>>.fromOpaque(userdata!).takeUnretainedValue()
            box.items.append(info?.pointee.default_source_name.map { String(cString: $0) })
            box.done = true
        }, Unmanaged.passUnretained(box).toOpaque())
        defer { if let operation { pa_operation_unref(operation) } }
        try run { () throws(DeviceFailure) -> Bool in try self.checkContext("pa_context_get_server_info"); return box.done }
        return box.items.first ?? nil
    }

    /// Every source (`pa_context_get_source_info_list`).
    func sources() throws(DeviceFailure) -> [PulseSourceInfo] {
        let box = Collector<PulseSourceInfo>()
        let operation = pa_context_get_source_info_list(context, Self.collectSource, Unmanaged.passUnretained(box).toOpaque())
        defer { if let operation { pa_operation_unref(operation) } }
        try run { () throws(DeviceFailure) -> Bool in try self.checkContext("pa_context_get_source_info_list"); return box.done }
        if box.failed { throw PulseError.failure(pa_context_errno(context), "pa_context_get_source_info_list") }
        return box.items
    }

    /// One source by name (`pa_context_get_source_info_by_name`); nil name: the default source.
    func source(named name: String?) throws(DeviceFailure) -> PulseSourceInfo {
        var resolved = name
        if resolved == nil { resolved = try defaultSourceName() }
        guard let name = resolved else {
            throw .lost("the PulseAudio server has no default source")
        }
        let box = Collector<PulseSourceInfo>()
        let operation = pa_context_get_source_info_by_name(context, name, Self.collectSource,
                                                           Unmanaged.passUnretained(box).toOpaque())
        defer { if let operation { pa_operation_unref(operation) } }
        try run { () throws(DeviceFailure) -> Bool in try self.checkContext("pa_context_get_source_info_by_name"); return box.done }
        guard !box.failed, let info = box.items.first else {
            throw PulseError.failure(pa_context_errno(context), "pa_context_get_source_info_by_name \(name)")
        }
        return info
    }

    /// Collects callback results; passed to C as unretained userdata while the query runs.
    private final class Collector<Item> {
        var items: [Item] = []
        var done = false
        var failed = false
    }

    private static let collectSource: pa_source_info_cb_t = { _, info, eol, userdata in
        let box = Unmanaged<Collector<PulseSourceInfo>>.fromOpaque(userdata!).takeUnretainedValue()
        if eol != 0 {
            box.failed = eol < 0
            box.done = true
            return
        }
        guard let info = info?.pointee else { return }
        let spec = info.sample_spec
        var specText = [CChar](repeating: 0, count: Int(PA_SAMPLE_SPEC_SNPRINT_MAX))
        var specCopy = spec
        pa_sample_spec_snprint(&specText, specText.count, &specCopy)
        let format: PCMSampleFormat? = switch spec.format {
        case PA_SAMPLE_U8: .u8
        case PA_SAMPLE_S16LE: .s16le
        case PA_SAMPLE_S24LE: .s24le
        case PA_SAMPLE_S32LE: .s32le
        case PA_SAMPLE_FLOAT32LE: .f32le
        default: nil
        }
        box.items.append(PulseSourceInfo(
            name: info.name.map { String(cString: $0) } ?? "",
            description: info.description.map { String(cString: $0) } ?? "",
            sampleSpec: specText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
            format: format.map { StreamFormat(sampleFormat: $0, sampleRate: Int(spec.rate), channels: Int(spec.channels)) },
            rate: Int(spec.rate), channels: Int(spec.channels),
            isMonitor: info.monitor_of_sink != UInt32.max))   // PA_INVALID_INDEX
    }

    private func checkContext(_ operation: String) throws(DeviceFailure) {
        let state = pa_context_get_state(context)
        if state == PA_CONTEXT_FAILED || state == PA_CONTEXT_TERMINATED {
            throw PulseError.failure(pa_context_errno(context), operation)
        }
    }

    /// Runs the main loop until `done` says so, in steps of at most 100 ms, and throws at the deadline.
    private func run(until done: () throws(DeviceFailure) -> Bool) throws(DeviceFailure) {
        while try !done() {
            let remaining = deadline - .now
            guard remaining > .zero else {
                throw .lost("the PulseAudio server did not answer within \(timeout)")
            }
            let step = min(remaining, .milliseconds(100))
            let microseconds = Int32(step.components.seconds * 1_000_000 + step.components.attoseconds / 1_000_000_000_000)
            guard pa_mainloop_prepare(mainloop, max(microseconds, 1)) >= 0, pa_mainloop_poll(mainloop) >= 0,
                  pa_mainloop_dispatch(mainloop) >= 0 else {
                throw .lost("the PulseAudio main loop failed")
            }
        }
    }
}
