import ArgumentParser
import AudioCapture

/// `earshot devices`: what `earshot capture --source` and `earshotd --source` can use here.
public struct DevicesCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List ALSA capture PCMs and PulseAudio sources, or say why none can be reached.",
        discussion: """
            ALSA PCMs come from snd_device_name_hint (the cards plus what the ALSA configuration defines); \
            PulseAudio sources come from the server (--server, $PULSE_SERVER or the default), asked with a \
            --timeout. Use the first column as --source. file:PATH and stdin:FMT:RATE:CH need no device.
            """)

    @Option(help: "PulseAudio server to ask (default: $PULSE_SERVER or the usual one).")
    var server: String?

    @Option(help: "Seconds to wait for the PulseAudio server.")
    var timeout: Double = 2

    public init() {}

    public func run() throws {
        let listing = DeviceListing.gather(pulseServer: server, timeout: .milliseconds(Int(timeout * 1000)))
        var reachable = 0

        let cards = listing.alsaCards == 0 ? "no sound cards" : "\(listing.alsaCards) sound card(s)"
        if let problem = listing.alsaProblem {
            print("ALSA: cannot list PCMs (\(problem)); \(cards)")
        } else {
            print("ALSA (\(cards)), capture PCMs:")
            if listing.alsaCards == 0 {
                print("  (without a card, only software PCMs exist; alsa:pulse and alsa:default need a PulseAudio server)")
            }
            for device in listing.alsaDevices {
                print("  " + Self.pad("alsa:\(device.name)") + device.description)
            }
            if listing.alsaDevices.isEmpty { print("  none") }
            reachable += listing.alsaCards
        }

        print("")
        if let problem = listing.pulseProblem {
            print("PulseAudio (server \(listing.pulseServer)): not reachable: \(problem)")
        } else {
            print("PulseAudio (server \(listing.pulseServer)), sources:")
            for source in listing.pulseSources {
                let mark = source.name == listing.pulseDefaultSource ? " [default]" : ""
                let monitor = source.isMonitor ? " [monitor of an output]" : ""
                print("  " + Self.pad("pulse:\(source.name)") + "\(source.description) (\(source.sampleSpec))\(mark)\(monitor)")
            }
            if listing.pulseSources.isEmpty { print("  none") }
            reachable += listing.pulseSources.filter { !$0.isMonitor }.count
        }

        if reachable == 0 {
            print("")
            print("No capture device can be reached: no ALSA sound card and no PulseAudio source. "
                  + "file:PATH and stdin:FMT:RATE:CH sources still work.")
        }
    }

    static func pad(_ text: String) -> String {
        text.count >= 28 ? text + "  " : text + String(repeating: " ", count: 30 - text.count)
    }
}
