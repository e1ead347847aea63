import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A control plane that scales: thousands of backends going down together cost one table
/// per loop turn, not a rebuild each, so the admin endpoint keeps answering; a pool too large
/// for a series per backend can do without them.
extension HardeningTests {
    /// A service of `dead` backends on a port nobody listens on (connect: refused at once),
    /// plus one live echo backend, checked every `intervalMs` with fall 1: every dead backend
    /// goes down within the first interval.
    private func largePool(dead: Int, live echoPort: UInt16, intervalMs: Int, _ extra: [String: Any] = [:]) throws -> [String: Any] {
        let closed = try freeLoopbackPort()
        var backends: [[String: Any]] = [["name": "live", "address": "127.0.0.1:\(echoPort)"]]
        for index in 0..<dead { backends.append(["name": "dead\(index)", "address": "127.0.0.1:\(closed)"]) }
        var service: [String: Any] = [
            "name": "big",
            "healthCheck": ["type": "tcp", "intervalMs": intervalMs, "timeoutMs": intervalMs / 2, "rise": 1, "fall": 1],
            "backends": backends,
        ]
        for (key, value) in extra { service[key] = value }
        return service
    }

    @Test func theAdminEndpointAnswersWhileThousandsOfBackendsGoDown() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let dead = 4_000
        let balancer = try BalancerProcess(services: [try largePool(dead: dead, live: echoPort, intervalMs: 500)])
        defer { balancer.process.terminate() }
        // While the first checks take the dead backends down (4,000 state changes within half
        // a second), readiness must answer at every poll, within a bound far below the
        // seconds a rebuild per change used to hold the control thread for.
        let client = TestHTTPClient(timeout: .seconds(3))
        let started = ContinuousClock.now
        var polls = 0
        var slowest = Duration.zero
        while ContinuousClock.now - started < .seconds(3) {
            let asked = ContinuousClock.now
            let reply = try client.get(port: balancer.adminPort, path: "/readyz")
            slowest = max(slowest, ContinuousClock.now - asked)
            #expect(reply.status == 200, "the live backend keeps the node ready")
            polls += 1
        }
        try waitUntil("every dead backend to be marked down", timeout: .seconds(30), poll: .milliseconds(200)) {
            try balancer.metric("bascule_backend_up", ["service": "big"]) == 1
                && balancer.metric("bascule_backend_state", ["service": "big", "state": "down"]) == Double(dead)
        }
        // The workers' table has the one live backend left: traffic goes there, first time.
        let client2 = try TCPClient(port: balancer.port("big"), timeout: .seconds(5))
        defer { client2.close() }
        try client2.sendAll("ping\n")
        #expect(try client2.read(maxBytes: 16) == Array("ping\n".utf8))
        print("scale: /readyz answered \(polls) polls while \(dead) backends went down, slowest \(slowest)")
        #expect(slowest < .seconds(2), "a /readyz answer took \(slowest)")
    }

    @Test func aPoolWithoutPerBackendMetricsKeepsTheServiceAggregates() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let pool = try largePool(dead: 50, live: echoPort, intervalMs: 200, ["backendMetrics": false])
        let balancer = try BalancerProcess(services: [pool])
        defer { balancer.process.terminate() }
        try waitUntil("the dead backends to be counted down", timeout: .seconds(20)) {
            try balancer.metric("bascule_service_backends", ["service": "big", "state": "down"]) == 50
        }
        let page = try balancer.metrics()
        let perBackend = page.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("backend=\"") }
        #expect(perBackend.isEmpty, "series per backend: \(perBackend.prefix(3))")
        #expect(try balancer.metric("bascule_service_backends", ["service": "big", "state": "up"]) == 1)
        #expect(try balancer.metric("bascule_health_checks_total", ["service": "big", "result": "failed"]) >= 50)
        #expect(try balancer.metric("bascule_service_ready", ["service": "big"]) == 1)

        // Back on by a reload: the per-backend series return.
        var on = pool
        on["backendMetrics"] = true
        try balancer.rewrite(services: [on])
        balancer.process.signal(SIGHUP)
        try waitUntil("per-backend series after the reload", timeout: .seconds(20)) {
            try balancer.metric("bascule_backend_up", ["service": "big", "backend": "live"]) == 1
        }
    }
}
