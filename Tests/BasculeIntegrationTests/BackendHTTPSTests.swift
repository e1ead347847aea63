import BasculeBackendService
import BasculeTestSupport
import Testing

/// `bascule-backend --tls-cert --tls-key`: the routes over TLS, with the given certificate.
@Suite(.serialized) struct BackendHTTPSTests {
    @Test func aBackendWithACertificateServesItsRoutesOverTLS() throws {
        let certificates = try TLSCertificates()
        let (process, port) = try BackendProcess.start(name: "www-1", extraArguments: try certificates.backendArguments(for: "www.example.com"))
        defer { process.terminate() }
        let probe = try TLSProbe.run(port: port, serverName: "www.example.com")
        #expect(probe.subject == "www.example.com")
        #expect(probe.backend == "www-1")
        // Verified against its own certificate by curl, the way an operator would check it.
        let (certificate, _) = try certificates.files(for: "www.example.com")
        let curl = try CommandRun.succeeding("/usr/bin/curl", [
            "-sS", "-i", "--max-time", "10", "--cacert", certificate,
            "--resolve", "www.example.com:\(port):127.0.0.1", "https://www.example.com:\(port)/whoami",
        ])
        #expect(curl.stdout.contains { $0.hasPrefix("X-Backend: www-1") })
    }

    @Test func aBackendAcceptingPROXYReadsTheHeaderBeforeTheHandshake() throws {
        let certificates = try TLSCertificates()
        let (process, port) = try BackendProcess.start(
            name: "api-1", extraArguments: try certificates.backendArguments(for: "api.example.com") + ["--accept-proxy"])
        defer { process.terminate() }
        let curl = try CommandRun.succeeding("/usr/bin/curl", [
            "-sS", "-i", "-k", "--max-time", "10", "--haproxy-protocol",
            "--resolve", "api.example.com:\(port):127.0.0.1", "https://api.example.com:\(port)/whoami",
        ])
        #expect(curl.stdout.contains { $0.hasPrefix("X-Backend: api-1") })
        #expect(curl.stdout.contains { $0.hasPrefix("X-Client-Address: 127.0.0.1:") })
    }
}
