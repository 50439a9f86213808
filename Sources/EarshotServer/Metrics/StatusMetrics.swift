import CoreMetrics
import EarshotTypes
import EncodingScheduler
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics. Two sources, one registry:
/// - histograms the engine records as things happen (pass durations, token latency), through swift-metrics with
///   ``factory``;
/// - everything else read from the typed ``DaemonStatus`` at each scrape: gauges are set, counters advance by what
///   the status's life-time totals grew since the last scrape.
///
/// Names and units follow Prometheus conventions (`earshot_` prefix, base units, `_total` counters); labels have
/// bounded values (live stream names are fixed at start, reasons and transports are fixed sets).
package final class StatusMetrics: Sendable {
    package let registry = PrometheusCollectorRegistry()
    /// Hands swift-metrics timers to the registry, with their help text and buckets.
    package var factory: any MetricsFactory { HistogramFactory(registry: registry) }

    private let lastTotals = Mutex<[String: Double]>([:])

    package init() {}

    /// The exposition text (format 0.0.4) for `status`.
    package func exposition(of status: DaemonStatus) -> [UInt8] {
        update(from: status)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
        registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels).set(to: value)
    }

    /// Advances a counter to `total`, the status's life-time value (totals never shrink while the daemon runs).
    private func counter(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ total: Double) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let counter = registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
        let growth = lastTotals.withLock { last -> Double in
            let growth = total - (last[key] ?? 0)
            if growth > 0 { last[key] = total }
            return growth
        }
        if growth > 0 { counter.increment(by: growth) }
    }

    private func update(from s: DaemonStatus) {
        gauge("earshot_build_info", "Always 1; the labels say which build runs.",
              [("version", s.version ?? "unknown"), ("revision", s.revision ?? "unknown")], 1)
        gauge("earshot_uptime_seconds", "Seconds since the daemon started.", [], s.uptimeSeconds)
        gauge("earshot_realtime_factor",
              "Compute seconds per second of audio encoded, over the last ~10 s (the cost of a second of audio).",
              [], s.compute.realTimeFactor)
        gauge("earshot_compute_utilization",
              "Fraction of the compute threads' time spent encoding, over the last ~10 s (near 1: falling behind).",
              [], s.compute.utilization)
        gauge("earshot_compute_threads", "Compute threads running the encoder.", [], Double(s.compute.threads))
        counter("earshot_tokens_encoded_total", "Tokens the encoder produced (40 ms each for Gemma 4, 10 ms for Echo).", [],
                Double(s.compute.tokensEncoded))
        counter("earshot_encoder_passes_total", "Batched encoder passes.", [], Double(s.compute.passes))
        counter("earshot_compute_busy_seconds_total", "Seconds the compute threads spent working.", [],
                s.compute.busySeconds)

        for kind in [DaemonStatus.StreamKind.live, .pushed] {
            gauge("earshot_streams", "Streams being encoded, by kind.", [("kind", kind.rawValue)],
                  Double(s.streams.filter { $0.kind == kind }.count))
        }
        for stream in s.streams where stream.kind == .live {
            let label = [("stream", stream.name)]
            gauge("earshot_live_stream_up", "1 while a live stream's source delivers audio, 0 otherwise.", label,
                  stream.state == .running ? 1 : 0)
            gauge("earshot_live_stream_subscribers", "Subscribers of a live stream.", label,
                  Double(stream.subscribers ?? 0))
            gauge("earshot_live_stream_backlog_seconds", "Audio of a live stream waiting for the encoder.", label,
                  stream.backlogSeconds)
            counter("earshot_live_stream_tokens_total", "Tokens a live stream produced.", label, Double(stream.tokens))
        }

        for transport in DaemonStatus.Transport.allCases {
            gauge("earshot_clients", "Clients connected, by transport.", [("transport", transport.rawValue)],
                  Double(s.connections.filter { $0.transport == transport }.count))
        }
        gauge("earshot_clients_max", "Clients served at once at most.", [], Double(s.maxClients))
        gauge("earshot_client_queued_frames_max", "The longest client send queue, in frames.", [],
              Double(s.connections.map(\.queuedFrames).max() ?? 0))
        counter("earshot_connections_total", "Clients accepted.", [], Double(s.totals.connections))
        counter("earshot_pushes_total", "Pushed streams started.", [], Double(s.totals.pushes))
        for (reason, count) in s.totals.refusals {
            counter("earshot_refusals_total", "Clients refused or closed by the server, by reason.",
                    [("reason", reason)], Double(count))
        }
        counter("earshot_dropped_frames_total",
                "Live frames dropped for clients that read too slowly (each saw a lagged event).",
                [("reason", "slow_client")], Double(s.totals.laggedFrames))
        counter("earshot_dropped_audio_seconds_total", "Live audio discarded before it was encoded, by reason.",
                [("reason", "encoder_behind")], Double(s.totals.overrunSamples) / 16_000)
        counter("earshot_dropped_audio_seconds_total", "Live audio discarded before it was encoded, by reason.",
                [("reason", "capture")], Double(s.totals.captureLostSamples) / 16_000)
        counter("earshot_capture_device_losses_total", "Times a capture device went away.", [],
                Double(s.totals.deviceLosses))
        if s.voiceActivity.on {
            counter("earshot_speech_seconds_total", "Seconds of audio the voice-activity detector called speech.", [],
                    s.totals.speechSeconds)
        }
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        // The name is given whole; the unit is part of it.
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

/// swift-metrics' factory for the engine's timers: Prometheus histograms with help text and buckets chosen for
/// what they measure. Other metric kinds are not used by the engine and go nowhere.
struct HistogramFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    static let histograms: [String: (help: String, buckets: [Duration])] = [
        "earshot_encoder_pass_duration_seconds": (
            "Wall time of one batched encoder pass.",
            [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].map { .milliseconds($0) }),
        "earshot_token_latency_seconds": (
            "From the end of a token's audio to its send to a client.",
            [10, 20, 40, 60, 100, 150, 250, 500, 1000, 2500, 5000].map { .milliseconds($0) }),
    ]

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let (help, buckets) = Self.histograms[label] ?? ("", [.milliseconds(1), .seconds(1)])
        return registry.makeDurationHistogram(descriptor: StatusMetrics.descriptor(label, help), labels: dimensions,
                                              buckets: buckets)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        NOOPMetricsHandler.instance
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        NOOPMetricsHandler.instance
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        NOOPMetricsHandler.instance
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        NOOPMetricsHandler.instance
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
