import EarshotGRPC
import Foundation
import GRPCCore
import Testing

/// deploy/kubernetes/deployment.yaml's container arguments, run against the real earshotd: every flag exists, the TLS
/// data port, the plain-text health port the probes use and the metrics port all answer. Only the paths (model, TLS
/// files, token, socket) and the port numbers are swapped for test ones.
@Suite(.serialized) struct FleetManifestTests {
    /// The `args:` list of the earshotd container, comments dropped.
    static func deploymentArguments() throws -> [String] {
        let text = try String(contentsOfFile: "\(Paths.root)/deploy/kubernetes/deployment.yaml", encoding: .utf8)
        guard let start = text.range(of: "          args:\n") else { throw TestFailure("deployment.yaml has no args:") }
        var arguments: [String] = []
        for line in text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("- ") else { break }
            let argument = trimmed.dropFirst(2).split(separator: "#", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces)
            arguments.append(argument)
        }
        return arguments
    }

    /// A self-signed certificate for 127.0.0.1 (the test's CA and server in one), made with openssl.
    static func certificate(in scratch: ScratchDirectory) throws -> (cert: String, key: String) {
        let cert = scratch.file("tls.crt"), key = scratch.file("tls.key")
        let make = try ChildProcess("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=earshot-test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", key, "-out", cert], logPath: scratch.file("openssl.log"))
        guard make.wait(timeout: 30).map(ChildProcess.exitCode) == 0 else { throw TestFailure("openssl: \(make.log)") }
        return (cert, key)
    }

    @Test func theDeploymentsEarshotdArgumentsRun() async throws {
        let scratch = ScratchDirectory()
        let (cert, key) = try Self.certificate(in: scratch)
        try "fleet-token\n".write(toFile: scratch.file("token"), atomically: true, encoding: .utf8)
        let grpcPort = try MetricsTests.freePort(), healthPort = try MetricsTests.freePort()
        let metricsPort = try MetricsTests.freePort()
        let socket = scratch.file("earshot.sock")
        let original = try Self.deploymentArguments()
        #expect(original.contains("--source=none") && original.contains("--grpc-health-address=0.0.0.0:8081"))
        let arguments = original.map { argument -> String in
            let (name, value) = argument.firstIndex(of: "=").map {
                (String(argument[..<$0]), String(argument[argument.index(after: $0)...]))
            } ?? (argument, "")
            switch name {
            case "--model": return "--model=\(Paths.model())"
            case "--socket": return "--socket=\(socket)"
            case "--grpc-tls-cert": return "--grpc-tls-cert=\(cert)"
            case "--grpc-tls-key": return "--grpc-tls-key=\(key)"
            case "--grpc-token-file": return "--grpc-token-file=\(scratch.file("token"))"
            // Same hosts (every interface), free ports.
            case "--grpc-address": return "--grpc-address=\(value.replacingOccurrences(of: ":50051", with: ":\(grpcPort)"))"
            case "--grpc-health-address":
                return "--grpc-health-address=\(value.replacingOccurrences(of: ":8081", with: ":\(healthPort)"))"
            case "--metrics-address":
                return "--metrics-address=\(value.replacingOccurrences(of: ":9464", with: ":\(metricsPort)"))"
            default: return argument
            }
        }
        let daemon = try ChildProcess(Paths.executable("earshotd"), arguments, logPath: scratch.file("earshotd.log"))
        defer {
            daemon.signal(SIGTERM)
            _ = daemon.wait(timeout: 5)
        }
        let deadline = Date(timeIntervalSinceNow: 20)
        while !GRPCDaemonTests.accepts(healthPort) || !GRPCDaemonTests.accepts(grpcPort) {
            if daemon.status != nil { throw TestFailure("earshotd exited with the deployment's arguments: \(daemon.log)") }
            guard Date() < deadline else { throw TestFailure("earshotd did not listen in 20 s: \(daemon.log)") }
            usleep(20_000)
        }
        // The ports have just opened: a client's first connection attempt may fail on a loaded machine, and its
        // calls wait for the next (as a kubelet's probe is retried).
        var probeOptions = GRPCClientOptions(host: "127.0.0.1", port: healthPort)
        probeOptions.waitForReady = true
        let probe = probeOptions
        var dataOptions = GRPCClientOptions(host: "127.0.0.1", port: grpcPort)
        dataOptions.caPath = cert
        dataOptions.bearerToken = "fleet-token"
        dataOptions.waitForReady = true
        let data = dataOptions
        let logPath = scratch.file("earshotd.log")
        let log: @Sendable () -> String = { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        try await withTimeout(90, "the pod's ports") {
            // The probes: plain text, no token.
            let answers = try await Self.retryingWhileUnavailable("the health port", log: log) {
                try await withEarshotClient(probe) { _, health in
                    var answers: [String: Grpc_Health_V1_HealthCheckResponse.ServingStatus] = [:]
                    for service in ["", "earshot.v1.Earshot"] {
                        answers[service] = try await health.check(.with { $0.service = service }).status
                    }
                    return answers
                }
            }
            #expect(answers == ["": .serving, "earshot.v1.Earshot": .serving])
            // The data port: TLS and the token.
            let status = try await Self.retryingWhileUnavailable("the TLS data port", log: log) {
                try await withEarshotClient(data) { earshot, _ in try await earshot.status(.init()).json }
            }
            #expect(status.contains("\"compute\""))
            #expect(status.contains("\"threads\":2"))
        }
        // The ServiceMonitor's endpoint.
        #expect(try MetricsTests.get(port: metricsPort, path: "/metrics").status == "HTTP/1.0 200 OK")
    }

    /// Runs `call` again while it fails `unavailable` (a connection that dropped before its stream opened: the
    /// transport gives up after five quick attempts on one dropped connection); the caller's timeout bounds it.
    /// Any other error ends it at once.
    static func retryingWhileUnavailable<T: Sendable>(_ what: String, log: @escaping @Sendable () -> String,
                                                      _ call: () async throws -> T) async throws -> T {
        var failures = 0
        while true {
            do {
                return try await call()
            } catch let error as RPCError where error.code == .unavailable {
                failures += 1
                print("\(what): unavailable (attempt \(failures)): \(error); retrying. earshotd so far:\n\(log())")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
