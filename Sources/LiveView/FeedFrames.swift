import EarshotTypes
import Foundation

/// The WebSocket feeds' frames (docs/protocol.md, "WebSocket"), in the vocabulary of the JSON lines the tools print
/// (docs/protocol.md, "Vocabulary"): a token is a JSON text frame (`token, firstSample, time, latencyMs, norm,
/// flags`) followed by a binary frame of its values, little-endian float32, exactly the bytes the socket's
/// `embedding` frame carries; an event is a text frame `{"event","at","count","message"}`.
package enum FeedFrames {
    /// The first frame of a token feed: what the subscription got.
    package static func started(stream: String, firstToken: UInt64, width: Int, output: OutputKind,
                                samplesPerToken: Int) -> String {
        "{\"started\":\(jsonString(stream)),\"firstToken\":\(firstToken),\"width\":\(width),"
            + "\"output\":\"\(output == .embeddings ? "embeddings" : "encoder")\","
            + "\"sampleRate\":16000,\"samplesPerToken\":\(samplesPerToken)}"
    }

    /// A token's header; `values` are its float32 values (for the norm), `nowNanoseconds` the wall clock at sending,
    /// `samplesPerToken` the model's (16 kHz).
    package static func tokenHeader(index: UInt64, firstSample: Int64, captureTimeNanoseconds: Int64, flags: TokenFlags,
                                    values: UnsafeBufferPointer<Float>, nowNanoseconds: Int64,
                                    samplesPerToken: Int) -> String {
        var sum: Double = 0
        for v in values { sum += Double(v) * Double(v) }
        // From the end of the token's audio (40 ms for Gemma 4) to now, as `earshot listen` reports it.
        let latency = Double(nowNanoseconds - captureTimeNanoseconds) / 1e6 - Double(samplesPerToken) / 16
        return "{\"token\":\(index),\"firstSample\":\(firstSample),"
            + "\"time\":\(String(format: "%.3f", Double(firstSample) / 16_000)),"
            + "\"latencyMs\":\(String(format: "%.1f", latency)),"
            + "\"norm\":\(String(format: "%.5g", sum.squareRoot())),"
            + "\"flags\":[\(flagNames(flags).map { "\"\($0)\"" }.joined(separator: ","))]}"
    }

    package static func event(_ event: EventInfo) -> String {
        "{\"event\":\"\(eventName(event.kind))\",\"at\":\(event.at),\"count\":\(event.count),"
            + "\"message\":\(jsonString(event.message))}"
    }

    /// Why a feed was refused or ended early; `code` is a camelCase reason (docs/protocol.md, "WebSocket").
    package static func error(code: String, message: String) -> String {
        "{\"error\":\"\(code)\",\"message\":\(jsonString(message))}"
    }

    /// The vocabulary's flag names, lowest bit first.
    package static func flagNames(_ flags: TokenFlags) -> [String] {
        [(TokenFlags.discontinuity, "discontinuity"), (.silence, "silence"), (.final, "final"),
         (.gapFilled, "gapFilled"), (.speech, "speech")]
            .filter { flags.contains($0.0) }.map(\.1)
    }

    /// The vocabulary's event names (the Swift case names).
    package static func eventName(_ kind: EventKind) -> String { "\(kind)" }

    /// `text` as a JSON string literal.
    package static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x2028...0x2029).contains(scalar.value) {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
