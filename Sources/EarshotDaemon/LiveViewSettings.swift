import EarshotGRPC
import EncodingScheduler
import LiveView

extension DaemonConfiguration {
    /// The live view's settings (issue #23), or nil when `http-address` is not set: the TLS files and token file
    /// checked and read as gRPC's are, and the socket's limits (send queue, frame size, deadlines) carried over;
    /// how many feeds run at once is the session layer's `max-clients`.
    package func liveViewConfiguration() throws(DaemonError) -> LiveViewConfiguration? {
        guard let httpAddress else {
            let stray = [("http-tls-cert", httpTLSCert), ("http-tls-key", httpTLSKey), ("http-token-file", httpTokenFile)]
                .filter { $0.1 != nil }.map(\.0) + (httpAllowPlaintext ? ["http-allow-plaintext"] : [])
            if !stray.isEmpty {
                throw DaemonError("\(stray.joined(separator: ", ")) without http-address: the live view is off")
            }
            return nil
        }
        var c = LiveViewConfiguration(address: httpAddress)
        c.tlsCertificatePath = httpTLSCert
        c.tlsKeyPath = httpTLSKey
        c.allowPlaintextNonLoopback = httpAllowPlaintext
        do {
            if let httpTokenFile { c.bearerToken = try BearerTokenInterceptor.readToken(file: httpTokenFile) }
            c.liveQueueTokens = sendQueueFrames
            c.maxFrameBytes = maxFrameBytes
            c.drainTimeout = Daemon.drainTimeout
            c.connections = admissionLimits(maxConnections: httpMaxConnections)
            return try c.validated()
        } catch let error as GRPCConfigurationError {
            throw DaemonError("\(error)")
        } catch {
            throw DaemonError("\(error)")
        }
    }
}

/// The live streams' log-mel frames for the live view's spectrogram: a watcher on the stream's `MelTap`.
struct EngineSpectrogram: SpectrogramSource {
    let engine: Engine

    var melBins: Int { engine.facts.melBins }

    func watchSpectrogram(of stream: String,
                          _ watcher: @escaping @Sendable (_ firstSample: Int64, _ frames: [Float]) -> Void,
                          ended: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? {
        guard let tap = engine.liveStream(named: stream)?.scheduled.melTap else { return nil }
        let id = tap.watch({ firstSample, frames in watcher(firstSample, Array(frames)) }, ended: ended)
        return { tap.stop(id) }
    }
}
