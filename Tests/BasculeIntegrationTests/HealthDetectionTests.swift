import BasculeBackendService
import BasculePosix
import BasculeTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Detection (issue 4): a hung backend by the active check's timeout, a killed one by client
/// traffic's connect failures; both put back by the active check.
@Suite("Detecting hung and dead backends", .serialized, .timeLimit(.minutes(3)))
struct HealthDetectionTests {
    @Test func aStoppedBackendIsTakenOutByTimeoutAndReturnsAfterRiseChecks() throws {
        let pool = try startPool("pub", count: 2)
        let check = healthCheckConfig("http", intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2)
        let balancer = try BalancerProcess(services: [serviceConfig("publishing", healthCheck: check, backends: pool.map { $0.config() })])
        let hung = pool[1]
        // Nothing may stay stopped, whatever fails below.
        defer { hung.resume() }
        // Let the checks run against the live backend first.
        try waitUntil("two checks passed on \(hung.name)", timeout: .seconds(10)) {
            try balancer.metric("bascule_health_checks_total", ["backend": hung.name, "result": "ok"]) >= 2
        }

        let linesBefore = balancer.process.lineCount
        hung.stop()
        let detection = try balancer.waitForState("down", service: "publishing", backend: hung.name, poll: .milliseconds(5))
        let reason = try balancer.backendStatus(service: "publishing", backend: hung.name)?["lastChangeReason"] as? String ?? ""
        #expect(reason.contains("timeout"), "reason: \(reason)")
        try balancer.process.waitForLine(containing: "\(hung.name) down: timeout after 150 ms (2/2)", after: linesBefore, timeout: .seconds(5))
        // Clients go to the other backend meanwhile.
        for _ in 0..<5 { #expect(try balancer.servedBy("publishing") == pool[0].name) }

        hung.resume()
        let recovery = try balancer.waitForState("up", service: "publishing", backend: hung.name, poll: .milliseconds(5))
        try waitUntil("\(hung.name) serves again", timeout: .seconds(5)) { try balancer.servedBy("publishing") == hung.name }
        print("hang: \(hung.name) down \(detection.milliseconds) ms after SIGSTOP (bound 2 x 200 + 150 = 550 ms; "
              + "reason: \(reason)); up \(recovery.milliseconds) ms after SIGCONT (rise 2 x 200 ms)")
        #expect(detection < .milliseconds(550 + 2000), "detection took \(detection)")
        #expect(recovery < .milliseconds(2 * 200 + 150 + 2000), "recovery took \(recovery)")
    }

    @Test func aKilledBackendWithoutTrafficIsTakenOutByTheActiveCheckWithinIntervalTimesFallPlusTimeout() throws {
        let pool = try startPool("pub", count: 2)
        let check = healthCheckConfig("http", intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2)
        let balancer = try BalancerProcess(services: [serviceConfig("publishing", healthCheck: check, backends: pool.map { $0.config() })])
        let dead = pool[1]
        try waitUntil("two checks passed on \(dead.name)", timeout: .seconds(10)) {
            try balancer.metric("bascule_health_checks_total", ["backend": dead.name, "result": "ok"]) >= 2
        }
        let linesBefore = balancer.process.lineCount
        let killSent = ContinuousClock.now
        try dead.kill()
        try balancer.waitForState("down", service: "publishing", backend: dead.name, poll: .milliseconds(5))
        let detection = ContinuousClock.now - killSent
        let reason = try balancer.backendStatus(service: "publishing", backend: dead.name)?["lastChangeReason"] as? String ?? ""
        #expect(reason.contains("refused") && reason.contains("(2/2)"), "reason: \(reason)")
        #expect(!reason.contains("passive"), "reason: \(reason)")
        try balancer.process.waitForLine(containing: "\(dead.name) down: ", after: linesBefore, timeout: .seconds(5))
        // Clients meet only the survivor.
        for _ in 0..<5 { #expect(try balancer.servedBy("publishing") == pool[0].name) }
        print("kill: \(dead.name) down \(detection.milliseconds) ms after SIGKILL, no client traffic "
              + "(bound 2 x 200 + 150 = 550 ms; reason: \(reason))")
        #expect(detection < .milliseconds(550 + 2000), "detection took \(detection)")
    }

    @Test func connectFailuresOnClientTrafficTakeADeadBackendOutBeforeTheActiveCheck() throws {
        let pool = try startPool("pub", count: 3)
        // Active checks far apart: only the passive check can notice within the test's first seconds.
        let check = healthCheckConfig("http", intervalMs: 4000, timeoutMs: 500, rise: 2, fall: 2)
        let balancer = try BalancerProcess(services: [
            serviceConfig("publishing", strategy: "round-robin", retries: 2, healthCheck: check, backends: pool.map { $0.config() }),
        ])
        let dead = pool[1]
        try dead.kill()
        let killedAt = ContinuousClock.now
        var served: [String] = []
        for _ in 0..<12 {
            let response = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami")
            #expect(response.status == 200)
            served.append(response.header("X-Backend") ?? "?")
        }
        let requestsTook = ContinuousClock.now - killedAt
        #expect(!served.contains(dead.name))
        let detection = try balancer.waitForState("down", service: "publishing", backend: dead.name, timeout: .seconds(2)) + requestsTook
        let status = try #require(try balancer.backendStatus(service: "publishing", backend: dead.name))
        let reason = status["lastChangeReason"] as? String ?? ""
        #expect(reason.contains("passive"), "reason: \(reason)")
        #expect((status["connectFailures"] as? Int ?? 0) >= 2)
        // The active check alone would need fall x intervalMs, at least 2 x 3600 ms with the jitter.
        #expect(detection < .milliseconds(3600))

        try dead.restart()
        let recovery = try balancer.waitForState("up", service: "publishing", backend: dead.name, timeout: .seconds(20))
        try waitUntil("\(dead.name) serves again", timeout: .seconds(5)) { try balancer.servedBy("publishing") == dead.name }
        print("passive: \(dead.name) down within \(detection.milliseconds) ms of the kill (reason: \(reason)); "
              + "back \(recovery.milliseconds) ms after its restart (active check every 4000 ms, rise 2)")
    }

    @Test func connectFailuresAreCountedByReason() throws {
        // A port nobody listens on refuses; a listener whose accept queue is full drops the
        // SYN, so the connect runs into connectTimeoutMs.
        let refusingPort = try freeLoopbackPort()
        let full = try BlockingSocket.listen(on: SocketAddress(ipv4: 0x7F00_0001, port: 0), backlog: 0)
        defer { close(full) }
        let fullPort = try BlockingSocket.boundPort(full)
        let filler = try TCPClient(port: fullPort)  // takes the queue's one place, never accepted
        defer { filler.close() }
        let none: [String: Any] = ["type": "none"]
        let balancer = try BalancerProcess(services: [
            serviceConfig("refusing", retries: 0, healthCheck: none, backends: [["name": "closed", "address": "127.0.0.1:\(refusingPort)"]]),
            serviceConfig("silent", retries: 0, healthCheck: none, backends: [["name": "full", "address": "127.0.0.1:\(fullPort)"]]),
        ], defaults: ["connectTimeoutMs": 300])
        defer { balancer.process.terminate() }

        for service in ["refusing", "silent"] {
            let client = try TCPClient(port: balancer.port(service), timeout: .seconds(5))
            defer { client.close() }
            #expect(try client.readToEOF().isEmpty, "\(service): no backend, so the client is closed")
        }
        let refused = ["service": "refusing", "backend": "closed"]
        let silent = ["service": "silent", "backend": "full"]
        #expect(try balancer.metric("bascule_backend_connect_errors_total", refused.merging(["reason": "refused"]) { $1 }) == 1)
        #expect(try balancer.metric("bascule_backend_connect_errors_total", refused.merging(["reason": "timeout"]) { $1 }) == 0)
        #expect(try balancer.metric("bascule_backend_connect_errors_total", silent.merging(["reason": "timeout"]) { $1 }) == 1)
        #expect(try balancer.metric("bascule_backend_connect_errors_total", silent.merging(["reason": "refused"]) { $1 }) == 0)
        #expect(try balancer.metric("bascule_backend_connect_errors_total", silent) == 1, "the sum over reasons")
        let byReason = try balancer.backendStatus(service: "silent", backend: "full")?["connectFailuresByReason"] as? [String: Int]
        #expect(byReason?["timeout"] == 1)
        #expect(Set(byReason?.keys.map { $0 } ?? []) == ["refused", "timeout", "unreachable", "reset", "local", "other"])
    }
}
