import Foundation
import LiveView
import Testing

/// The live view over TLS, with a certificate openssl makes for the test and curl as the client.
@Suite struct LiveViewTLSTests {
    @Test func theFeedsAndThePageAreServedOverTLS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("earshot-http-tls-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificate = directory + "/cert.pem", key = directory + "/key.pem"
        _ = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                         "-nodes", "-keyout", key, "-out", certificate, "-days", "2",
                                         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"])
        try await withLiveView({
            $0.tlsCertificatePath = certificate
            $0.tlsKeyPath = key
            $0.bearerToken = "tl5"
        }) { port in
            let base = "https://127.0.0.1:\(port)"
            let page = try run("/usr/bin/curl", ["-sS", "--cacert", certificate, base + "/"])
            #expect(page.contains("<title>Earshot"))
            let status = try run("/usr/bin/curl", ["-sS", "--cacert", certificate, "-H", "Authorization: Bearer tl5",
                                                   base + "/v1/status"])
            #expect(status.contains(#""server":"test""#))
            let refused = try run("/usr/bin/curl", ["-sS", "--cacert", certificate, "-o", "/dev/null",
                                                    "-w", "%{http_code}", base + "/v1/status"])
            #expect(refused == "401")
            // Plain HTTP gets no answer from a TLS listener.
            await #expect(throws: (any Error).self) { _ = try await TestConnection.get(port, "/") }
        }
    }

    /// Runs `tool` and returns its standard output; throws with its standard error if it fails.
    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LiveViewTestFailure("\(tool) \(arguments.joined(separator: " ")): \(String(decoding: err, as: UTF8.self))")
        }
        return String(decoding: out, as: UTF8.self)
    }
}
