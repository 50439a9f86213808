import EarshotClient
@testable import EarshotCLI
import Foundation
import Testing

/// `earshot status` / `earshot top`'s rendering of the typed status: every stream and client gets a row, and with a
/// previous status (a refresh) the token rate appears.
@Suite struct StatusViewTests {
    func status(uptime: Double, tokens: Int) -> DaemonStatus {
        DaemonStatus(
            server: "earshotd 0.3.0", version: "0.3.0", revision: "1a2b3c4d", protocol: 1, uptimeSeconds: uptime,
            model: .init(id: "tiny", family: "gemma4", D: 96, P: 48, blockTokens: 12, layers: 2, samplesPerToken: 640), clients: 1, maxClients: 64,
            socket: "/run/earshot/earshot.sock",
            streams: [.init(name: "mic", kind: .live, source: "pulse:", state: .running, samples: 160_000,
                            inputRate: 16_000, tokens: UInt64(tokens), subscribers: 2, overrunSamples: 8000,
                            captureLostSamples: 0, deviceLosses: 0, speechSeconds: 4.5, backlogSeconds: 0.25)],
            connections: [.init(id: 7, transport: .grpc, peer: "grpc call", name: "grpc Push", subscriptions: 0,
                                pushes: 1, queuedFrames: 3, droppedFrames: 0)],
            compute: .init(threads: 1, passes: 20, tokensEncoded: tokens, busySeconds: 1, realTimeFactor: 0.05,
                           utilization: 0.125),
            voiceActivity: .init(on: true, threshold: 0.5, minSilenceMs: 100, speechPadMs: 30),
            latency: .init(tokens: 100, p50Ms: 480, p90Ms: 500, p99Ms: 520, maxMs: 530),
            totals: .init(connections: 3, pushes: 1, refusals: ["timed-out": 2], laggedFrames: 5))
    }

    @Test func everyStreamAndClientHasARowAndRefreshesShowRates() {
        let text = StatusView.render(status(uptime: 11, tokens: 275), previous: status(uptime: 10, tokens: 250),
                                     ping: .milliseconds(2))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("earshotd 0.3.0 (git 1a2b3c4d), protocol 1, up ") == true)
        #expect(lines.contains { $0.hasPrefix("compute 1 thread(s), 275 tokens in 20 passes, 12.5% busy") })
        #expect(lines.contains { $0.hasSuffix("25 tokens/s") })
        #expect(lines.contains { $0.hasPrefix("latency p50 480.0 ms, p90 500.0 ms, p99 520.0 ms") })
        #expect(lines.contains {
            $0.hasPrefix("mic") && $0.contains("running") && $0.contains("10.0 s") && $0.contains("0.25 s")
                && $0.hasSuffix("0.50 s")
        })
        #expect(lines.contains { $0.hasPrefix("7") && $0.contains("grpc") && $0.contains("grpc Push") })
        #expect(lines.last == "totals  3 connections, 1 pushes, 5 lagged frames, 0 device losses, refused: timed-out 2")
        // Once, without a previous status: no rate.
        #expect(!StatusView.render(status(uptime: 11, tokens: 275), previous: nil, ping: .zero).contains("tokens/s"))
    }

    /// A newer daemon may name a transport this build does not know: its status still decodes, keeps the name, and
    /// shows it (escaped, as every cell).
    @Test func aTransportThisBuildDoesNotKnowStillDecodes() throws {
        var s = status(uptime: 1, tokens: 0)
        s.connections.append(.init(id: 8, transport: .websocket, peer: "127.0.0.1:5000",
                                   name: "websocket Subscribe mic",
                                   subscriptions: 1, pushes: 0, queuedFrames: 0, droppedFrames: 0))
        let json = String(decoding: try JSONEncoder().encode(s), as: UTF8.self)
        #expect(json.contains(#""transport":"websocket""#) && json.contains(#""transport":"grpc""#))
        let newer = json.replacingOccurrences(of: #""transport":"websocket""#,
                                              with: #""transport":"carrier\u001Bpigeon""#)
        let decoded = try JSONDecoder().decode(DaemonStatus.self, from: Data(newer.utf8))
        #expect(decoded.connections.map(\.transport.rawValue) == ["grpc", "carrier\u{1B}pigeon"])
        #expect(decoded.connections[0].transport == .grpc)
        #expect(!DaemonStatus.Transport.allCases.contains(decoded.connections[1].transport))
        #expect(try JSONDecoder().decode(DaemonStatus.self, from: JSONEncoder().encode(decoded)) == decoded)
        let rows = StatusView.render(decoded, previous: nil, ping: .zero).split(separator: "\n")
        #expect(rows.contains { $0.hasPrefix("8") && $0.contains(#"carrier\u{1B}pigeon"#) })
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(DaemonStatus.self,
                                     from: Data(json.replacingOccurrences(of: #""transport":"grpc""#,
                                                                          with: #""transport":7"#).utf8))
        }
    }

    @Test func namesAndLabelsFromClientsReachTheTerminalEscaped() {
        var s = status(uptime: 1, tokens: 0)
        let hostile = "\u{1B}[2J\u{1B}]0;owned\u{07}\nlevel=error msg=fake"
        s.connections[0].name = hostile
        s.streams[0].name = "push 1.1 " + hostile
        let text = StatusView.render(s, previous: nil, ping: .zero)
        #expect(!text.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" })
        #expect(text.contains(#"\u{1B}[2J\u{1B}]0;owned\u{7}\u{A}level=error msg=fake"#))
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("level=error") }, "no forged line")
    }
}
