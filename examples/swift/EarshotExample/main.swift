// A complete EarshotClient program: follow a live stream of a running earshotd, or push a synthetic tone through
// it, and print each token as it arrives.
//
//     swift run EarshotExample                       # follow "mic" on the default socket
//     swift run EarshotExample --socket /tmp/e.sock --stream line
//     swift run EarshotExample --speech only         # only the tokens the daemon's voice activity calls speech
//     swift run EarshotExample --push-tone           # encode 2 s of a 440 Hz tone as a private stream
import EarshotClient
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}
let socket = option("--socket")          // nil: $EARSHOT_SOCKET, then the usual places
let streamName = option("--stream") ?? "mic"
let pushTone = arguments.contains("--push-tone")
// --speech all|only|off, as `earshot listen` takes it (docs/protocol.md, "Vocabulary"); --speech-only is its old
// spelling of `--speech only`.
if arguments.contains("--speech-only") {
    FileHandle.standardError.write(Data("EarshotExample: --speech-only is deprecated; use --speech only\n".utf8))
}
let speech = arguments.contains("--speech-only") ? "only" : option("--speech") ?? "all"
guard ["all", "only", "off"].contains(speech) else {
    FileHandle.standardError.write(Data("EarshotExample: --speech must be all, only or off, not '\(speech)'\n".utf8))
    exit(2)
}

/// One line per token: index, audio time, flags (`speech` where the daemon's voice activity detector found speech)
/// and the embedding's norm.
func show(_ frame: EmbeddingFrame) {
    let norm = frame.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let flags = [(EmbeddingFlags.discontinuity, "discontinuity"), (.silence, "silence"), (.final, "final"),
                 (.gapFilled, "gapFilled"), (.speech, "speech")]
        .filter { frame.flags.contains($0.0) }.map(\.1).joined(separator: " ")
    print(String(format: "token %5d  t=%7.2f s  |e|=%8.3f  %@", frame.token, frame.audioTime, norm, flags))
}

do {
    try await EarshotConnection.withConnection(to: socket, clientName: "EarshotExample") { connection in
        let server = connection.server
        print("connected to \(server.serverName): model \(server.modelID), D=\(server.embeddingWidth), "
              + "\(server.tokensPerSecond) tokens/s, streams \(server.streams)")

        if pushTone {
            // A private stream: 2 s of 440 Hz at 48 kHz stereo. The daemon downmixes and resamples.
            let pushed = try await connection.startPush(format: .f32le, sampleRate: 48_000, channels: 2,
                                                        label: "tone")
            let samples = (0..<96_000).flatMap { i -> [Float] in
                let v = Float(0.3 * sin(2 * Double.pi * 440 * Double(i) / 48_000))
                return [v, v]
            }
            // Push and read at the same time: the daemon applies backpressure to pushes until frames are read.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await connection.push(samples, to: pushed)
                    try await connection.endPush(pushed)
                }
                group.addTask {
                    for try await message in connection.messages {
                        switch message {
                        case .embedding(let frame) where frame.stream == pushed.id: show(frame)
                        case .event(let event) where event.stream == pushed.id && event.kind == .ended: return
                        default: break
                        }
                    }
                }
                try await group.waitForAll()
            }
            return
        }

        // Speech start/end events too (all), and with `--speech only` only the tokens inside speech; a daemon running
        // without voice activity refuses speech options (voice-activity-off), so then follow every token without.
        let delivery: SpeechDelivery = speech == "only" ? .speechOnly : speech == "all" ? .events : .none
        let subscription: Subscription
        do {
            subscription = try await connection.subscribe(to: streamName, from: .now, speech: delivery)
        } catch let error as EarshotError where error.serverCode == "voice-activity-off" && delivery == .events {
            subscription = try await connection.subscribe(to: streamName, from: .now)
        }
        print("following '\(subscription.name)' from token \(subscription.firstToken); Ctrl-C to stop")
        for try await message in connection.messages {
            switch message {
            case .embedding(let frame):
                show(frame)
            case .event(let event) where event.kind == .speechStart || event.kind == .speechEnd:
                print("\(event.kind == .speechStart ? "speech starts" : "speech ends") at sample \(event.at) "
                      + String(format: "(%.2f s)", Double(event.at) / 16_000))
            case .event(let event):
                print("event: \(event.kind.rawValue) at \(event.at), count \(event.count) \(event.message)")
                if event.kind == .ended { return }
            case .error(let error):
                print("error: \(error)")
            }
        }
    }
} catch {
    FileHandle.standardError.write(Data("EarshotExample: \(error)\n".utf8))
    exit(1)
}
