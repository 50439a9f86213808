import CAlsa

/// An ALSA PCM that can capture, from `snd_device_name_hint`.
public struct ALSADeviceInfo: Sendable, Equatable {
    /// The name to use in `alsa:NAME`.
    public var name: String
    /// ALSA's description, on one line.
    public var description: String
}

/// What `earshot devices` shows: the capture devices each sound system can reach, or why it cannot.
public struct DeviceListing: Sendable {
    /// Sound cards ALSA sees (`snd_card_next`); 0 on a machine without any.
    public var alsaCards = 0
    /// Capture-capable PCMs from ALSA's configuration and cards.
    public var alsaDevices: [ALSADeviceInfo] = []
    /// Why ALSA could not be listed, if it could not.
    public var alsaProblem: String?
    /// The PulseAudio server asked ("default" when none was named).
    public var pulseServer = "default"
    /// Its default source, and every source (monitors included).
    public var pulseDefaultSource: String?
    public var pulseSources: [PulseSourceInfo] = []
    /// Why PulseAudio could not be listed (no server, no answer within the timeout), if it could not.
    public var pulseProblem: String?

    /// Lists both systems. Blocks for at most about `timeout` (the PulseAudio query); call it off the cooperative
    /// pool, e.g. from a synchronous command.
    public static func gather(pulseServer: String? = nil, timeout: Duration = .seconds(2)) -> DeviceListing {
        var listing = DeviceListing()
        listing.pulseServer = pulseServer ?? "default"
        listing.alsaCards = countALSACards()
        do {
            listing.alsaDevices = try alsaCaptureDevices()
        } catch {
            listing.alsaProblem = error.description
        }
        do throws(DeviceFailure) {
            let connection = try PulseConnection(server: pulseServer, timeout: timeout)
            listing.pulseDefaultSource = try connection.defaultSourceName()
            listing.pulseSources = try connection.sources()
        } catch {
            switch error {
            case .lost(let reason): listing.pulseProblem = reason
            case .fatal(let failure): listing.pulseProblem = failure.description
            }
        }
        return listing
    }

    /// The corresponding C function is `snd_card_next`.
    static func countALSACards() -> Int {
        var card: Int32 = -1
        var count = 0
        while snd_card_next(&card) == 0 && card >= 0 { count += 1 }
        return count
    }

    /// PCM hints (`snd_device_name_hint`) whose IOID is capture or both.
    static func alsaCaptureDevices() throws(CaptureError) -> [ALSADeviceInfo] {
        var hints: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        let result = snd_device_name_hint(-1, "pcm", &hints)
        guard result >= 0, let hints else {
            throw CaptureError(.unavailable, ALSAError.describe(result, "snd_device_name_hint"))
        }
        defer { snd_device_name_free_hint(hints) }
        func hint(_ entry: UnsafeMutableRawPointer, _ id: String) -> String? {
            guard let text = snd_device_name_get_hint(entry, id) else { return nil }
            defer { free(text) }
            return String(cString: text)
        }
        var devices: [ALSADeviceInfo] = []
        var cursor = hints
        while let entry = cursor.pointee {
            cursor += 1
            guard let name = hint(entry, "NAME") else { continue }
            let direction = hint(entry, "IOID")   // nil means both
            guard direction == nil || direction == "Input" else { continue }
            let description = (hint(entry, "DESC") ?? "").split(separator: "\n").joined(separator: " — ")
            devices.append(ALSADeviceInfo(name: name, description: description))
        }
        return devices
    }
}
