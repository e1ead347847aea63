import BasculeConfig
import BasculeEventLoop
import BasculeHealth
import BasculeTestSupport
import Testing

/// https checks through the system OpenSSL against `openssl s_server` with certificates made
/// by the test.
@Suite(.serialized) struct HTTPSHealthCheckTests {
    private struct Run {
        var recorder = ChangeRecorder()
        var result: CheckResultSnapshot
    }

    /// Starts s_server with the given pair, checks it until `enough` holds, stops everything.
    private func check(certificate: String, key: String, _ check: HealthCheckConfig,
                       until enough: (ChangeRecorder, CheckResultSnapshot) -> Bool) throws -> Run {
        let server = try OpenSSLServer(certificate: certificate, key: key)
        defer { server.stop() }
        let loop = try EventLoop()
        let recorder = ChangeRecorder()
        let monitor = try HealthMonitor(loop: loop, configuration: configuration(check, ports: [server.port]), log: testLog) {
            recorder.record($0, $1, $2, $3)
        }
        defer { monitor.stop() }
        monitor.start()
        let reached = try drive(loop, timeoutMs: 5_000) { enough(recorder, monitor.results()[0][0]) }
        #expect(reached, "last result: \(monitor.results()[0][0].reason)")
        return Run(recorder: recorder, result: monitor.results()[0][0])
    }

    @Test func aCertificateSignedByTheConfiguredCAKeepsTheBackendUp() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let run = try check(certificate: certificates.signedCertificate, key: certificates.signedKey,
                            HealthCheckConfig(type: .https, path: "/", intervalMs: 100, timeoutMs: 1_000, rise: 1, fall: 1,
                                              caFile: certificates.caCertificate)) { _, result in result.checksTotal >= 3 }
        #expect(run.recorder.changes.isEmpty)
        #expect(run.result.healthy && run.result.failuresTotal == 0)
        #expect(run.result.reason == "http status 200")
    }

    @Test func anUntrustedCertificateTakesTheBackendDownWhileVerifying() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let run = try check(certificate: certificates.selfSignedCertificate, key: certificates.selfSignedKey,
                            HealthCheckConfig(type: .https, path: "/", intervalMs: 100, timeoutMs: 1_000, rise: 2, fall: 2)) {
            recorder, _ in !recorder.changes.isEmpty
        }
        #expect(run.recorder.changes.first?.healthy == false)
        #expect(run.recorder.changes.first?.reason == "tls: certificate verify failed: self-signed certificate (2/2)")
    }

    @Test func aCertificateForAnotherNameTakesTheBackendDown() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let run = try check(certificate: certificates.signedCertificate, key: certificates.signedKey,
                            HealthCheckConfig(type: .https, path: "/", intervalMs: 100, timeoutMs: 1_000, rise: 1, fall: 1,
                                              caFile: certificates.caCertificate, serverName: "pub1.example")) {
            recorder, _ in !recorder.changes.isEmpty
        }
        #expect(run.recorder.changes.first?.reason == "tls: certificate verify failed: hostname mismatch (1/1)")
    }

    @Test func verifyFalseAcceptsAnUntrustedCertificate() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let run = try check(certificate: certificates.selfSignedCertificate, key: certificates.selfSignedKey,
                            HealthCheckConfig(type: .https, path: "/", intervalMs: 100, timeoutMs: 1_000, rise: 1, fall: 1,
                                              verify: false)) { _, result in result.checksTotal >= 3 }
        #expect(run.recorder.changes.isEmpty)
        #expect(run.result.healthy && run.result.reason == "http status 200")
    }

    @Test func aWrongStatusOverTLSTakesTheBackendDown() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let run = try check(certificate: certificates.signedCertificate, key: certificates.signedKey,
                            HealthCheckConfig(type: .https, path: "/", expectStatus: [204], intervalMs: 100, timeoutMs: 1_000,
                                              rise: 2, fall: 2, caFile: certificates.caCertificate)) {
            recorder, _ in !recorder.changes.isEmpty
        }
        #expect(run.recorder.changes.first?.reason == "http status 200 (2/2)")
    }

    @Test func anUnreadableCAFileIsRefusedAtStartup() throws {
        let loop = try EventLoop()
        let check = HealthCheckConfig(type: .https, caFile: "/nonexistent/bascule-ca.pem")
        #expect(throws: HealthMonitorError.self) {
            _ = try HealthMonitor(loop: loop, configuration: configuration(check, ports: [1]), log: testLog) { _, _, _, _ in }
        }
    }

    @Test func aBackendThatNeverHandshakesTimesOut() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .hang)
        defer { server.close() }
        let recorder = ChangeRecorder()
        let check = HealthCheckConfig(type: .https, intervalMs: 100, timeoutMs: 100, rise: 1, fall: 1, verify: false)
        let monitor = try HealthMonitor(loop: loop, configuration: configuration(check, ports: [server.port]), log: testLog) {
            recorder.record($0, $1, $2, $3)
        }
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { !recorder.changes.isEmpty })
        #expect(recorder.changes.first?.reason == "timeout after 100 ms (1/1)")
    }

    @Test func aPlainHTTPBackendFailsTheHandshake() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .respondToAnyBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
        defer { server.close() }
        let recorder = ChangeRecorder()
        let check = HealthCheckConfig(type: .https, intervalMs: 100, timeoutMs: 1_000, rise: 1, fall: 1, verify: false)
        let monitor = try HealthMonitor(loop: loop, configuration: configuration(check, ports: [server.port]), log: testLog) {
            recorder.record($0, $1, $2, $3)
        }
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { !recorder.changes.isEmpty })
        #expect(recorder.changes.first?.reason.hasPrefix("tls: handshake failed: ") == true,
                "\(recorder.changes.first?.reason ?? "")")
    }
}
