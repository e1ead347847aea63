import BasculeTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16: with `proxyProtocol` set, the backend requires the header, so the checks must
/// send it too (before, HTTP checks went without it, every backend was marked down and the
/// service never became ready).
@Suite("Health checks speak the PROXY protocol their service sends", .serialized, .timeLimit(.minutes(2)))
struct ProxyProtocolCheckTests {
    @Test(arguments: ["v1", "v2"])
    func aBackendThatRequiresThePROXYHeaderPassesItsHTTPCheck(version: String) throws {
        let backend = try ManagedProcess(executable: TestBinaries.backend(),
                                         arguments: ["--listen", "127.0.0.1:0", "--name", "strict", "--accept-proxy"])
        defer { backend.terminate(grace: .seconds(2)) }
        let line = try backend.waitForLine(containing: "listening on ")
        let port = try #require(line.split(separator: ":").last.flatMap { UInt16($0) })
        // A request without the header is dropped by this backend: the test's premise.
        #expect(throws: (any Error).self) { _ = try TestHTTPClient().get(port: port, path: "/health") }

        var service = serviceConfig("strict", healthCheck: healthCheckConfig("http", intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2),
                                    backends: [["name": "strict", "address": "127.0.0.1:\(port)"]])
        service["proxyProtocol"] = version
        let balancer = try BalancerProcess(services: [service])
        try waitUntil("two passing checks on strict", timeout: .seconds(10)) {
            try balancer.metric("bascule_health_checks_total", ["backend": "strict", "result": "ok"]) >= 2
        }
        #expect(try balancer.metric("bascule_health_checks_total", ["backend": "strict", "result": "failed"]) == 0)
        #expect(try balancer.state(service: "strict", backend: "strict") == "up")
        #expect(try balancer.metric("bascule_service_ready", ["service": "strict"]) == 1)
        // And traffic carries the client's address, as before.
        let response = try TestHTTPClient().get(port: balancer.port("strict"), path: "/whoami")
        #expect(response.status == 200)
        #expect(response.header("X-Client-Address")?.hasPrefix("127.0.0.1:") == true)
    }

    @Test func aTCPCheckSendsTheHeaderBeforeItsSteps() throws {
        let backend = try ManagedProcess(executable: TestBinaries.backend(),
                                         arguments: ["--listen", "127.0.0.1:0", "--name", "strict", "--accept-proxy"])
        defer { backend.terminate(grace: .seconds(2)) }
        let line = try backend.waitForLine(containing: "listening on ")
        let port = try #require(line.split(separator: ":").last.flatMap { UInt16($0) })
        // An HTTP conversation spoken as TCP steps: it only succeeds if the header went first.
        let check: [String: Any] = ["type": "tcp", "intervalMs": 200, "timeoutMs": 150, "rise": 1, "fall": 1,
                                    "steps": [["send": "GET /health HTTP/1.1\r\nHost: strict\r\nConnection: close\r\n\r\n"],
                                              ["expectRegex": "^HTTP/1\\.1 200"]]]
        var service = serviceConfig("strict", healthCheck: check, backends: [["name": "strict", "address": "127.0.0.1:\(port)"]])
        service["proxyProtocol"] = "v2"
        let balancer = try BalancerProcess(services: [service])
        try waitUntil("two passing checks on strict", timeout: .seconds(10)) {
            try balancer.metric("bascule_health_checks_total", ["backend": "strict", "result": "ok"]) >= 2
        }
        #expect(try balancer.metric("bascule_health_checks_total", ["backend": "strict", "result": "failed"]) == 0)
    }
}
