/// What `GET /readyz` on the metrics listener answers: whether the daemon takes new work now. The daemon decides
/// (``MetricsServer`` asks a closure at each request); this is only the answer and how it is said.
package enum Readiness: Sendable, Equatable {
    /// 200 `ready`.
    case ready
    /// 503 with `reason` as the body's one line: `starting`, `draining`, `unhealthy: …`.
    case notReady(reason: String)
}
