import EncodingScheduler
import Logging
import ServiceLifecycle

/// Runs the engine's compute threads for the life of a `ServiceGroup`: started when the group starts, stopped after
/// every service started after it has shut down (services stop in reverse order).
struct ComputeService: Service {
    let engine: Engine
    let logger: Logger

    func run() async throws {
        engine.start()
        logger.info("compute threads started", metadata: [
            "threads": "\(engine.scheduler.configuration.computeThreads)",
            "blockTokens": "\(engine.blockTokens)"])
        try? await gracefulShutdown()
        if !engine.stop() { logger.warning("compute threads did not stop in time") }
    }
}
