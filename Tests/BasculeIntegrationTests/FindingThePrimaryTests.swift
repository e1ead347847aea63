import BasculeBackendService
import BasculePosix
import BasculeTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16, checks that can find a primary: a check target distinct from the traffic
/// address (a listener's probe port), and TCP send/expect steps that ask a server its role.
@Suite("Finding the primary: probe ports and send/expect checks", .serialized, .timeLimit(.minutes(3)))
struct FindingThePrimaryTests {
    @Test func trafficFollowsTheProbePortWhenThePrimaryMovesAndNeverReturnsToTheFormerPrimary() throws {
        // Each node serves traffic on one port and answers its availability probe on another,
        // like a SQL availability-group listener (1433) and its load-balancer probe (59999).
        let nodes = try startPool("node", count: 2)
        let probes = try startPool("probe", count: 2)
        try probes[1].admin("/admin/fail")  // node2 starts as the replica
        let intervalMs = 300
        var check = healthCheckConfig("http", intervalMs: intervalMs, timeoutMs: 200, rise: 1, fall: 1)
        check["path"] = "/health"
        let backends = zip(nodes, probes).map { node, probe -> [String: Any] in
            var object = node.config()
            object["healthCheck"] = ["port": Int(probe.port)]
            return object
        }
        let balancer = try BalancerProcess(services: [serviceConfig("sql", strategy: "round-robin", healthCheck: check, backends: backends)])
        try balancer.waitForState("up", service: "sql", backend: "node1")
        try balancer.waitForState("down", service: "sql", backend: "node2")
        for _ in 0..<6 { #expect(try balancer.servedBy("sql") == "node1") }
        let checks = try balancer.status()["healthChecks"] as? [[String: Any]] ?? []
        let node2Check = checks.first { $0["backend"] as? String == "node2" }
        #expect(node2Check?["target"] as? String == "127.0.0.1:\(probes[1].port)")
        #expect(try balancer.metric("bascule_health_check_target_info", ["backend": "node1", "target": "127.0.0.1:\(probes[0].port)"]) == 1)

        // Failover: the probe moves to node2.
        let swapped = ContinuousClock.now
        try probes[0].admin("/admin/fail")
        try probes[1].admin("/admin/recover")
        try waitUntil("node1 down and node2 up", timeout: .seconds(10), poll: .milliseconds(10)) {
            try balancer.state(service: "sql", backend: "node1") == "down" && balancer.state(service: "sql", backend: "node2") == "up"
        }
        let followed = ContinuousClock.now - swapped
        let formerBefore = try balancer.backendStatus(service: "sql", backend: "node1")?["totalConnections"] as? Int ?? -1
        for _ in 0..<20 { #expect(try balancer.servedBy("sql") == "node2") }
        let formerAfter = try balancer.backendStatus(service: "sql", backend: "node1")?["totalConnections"] as? Int ?? -2
        #expect(formerAfter == formerBefore, "the former primary took new connections after the switch")
        print("probe port: traffic followed the primary \(followed.milliseconds) ms after the probe moved "
              + "(two intervals: \(2 * intervalMs) ms)")
        // Two intervals, plus scheduling slack on a loaded two-core machine.
        #expect(followed < .milliseconds(2 * intervalMs + 1000), "took \(followed)")
    }

    @Test func aSendExpectCheckKeepsOnlyTheServerThatSaysPrimary() throws {
        let nodes = try startPool("db", count: 2)
        let roles = [try RoleServer(role: "primary"), try RoleServer(role: "replica")]
        defer { for role in roles { role.stop() } }
        let check: [String: Any] = [
            "type": "tcp", "intervalMs": 200, "timeoutMs": 150, "rise": 1, "fall": 1,
            "steps": [["send": "ROLE\r\n"], ["expectRegex": "^role: (primary|master)\\r\\n", "timeoutMs": 100]],
        ]
        let backends = zip(nodes, roles).map { node, role -> [String: Any] in
            var object = node.config()
            object["healthCheck"] = ["port": Int(role.port)]
            return object
        }
        let balancer = try BalancerProcess(services: [serviceConfig("db", strategy: "round-robin", healthCheck: check, backends: backends)])
        try balancer.waitForState("up", service: "db", backend: "db1")
        try balancer.waitForState("down", service: "db", backend: "db2")
        let reason = try balancer.backendStatus(service: "db", backend: "db2")?["lastChangeReason"] as? String ?? ""
        #expect(reason.contains("step 2 (expect /^role: (primary|master)\\r\\n/)"), "reason: \(reason)")
        #expect(reason.contains("role: replica"), "reason: \(reason)")
        for _ in 0..<6 { #expect(try balancer.servedBy("db") == "db1") }

        roles[0].role.withLock { $0 = "replica" }
        roles[1].role.withLock { $0 = "primary" }
        try waitUntil("db2 primary in /status", timeout: .seconds(10)) {
            try balancer.state(service: "db", backend: "db1") == "down" && balancer.state(service: "db", backend: "db2") == "up"
        }
        for _ in 0..<6 { #expect(try balancer.servedBy("db") == "db2") }
        #expect(roles.allSatisfy { $0.questions.load(ordering: .relaxed) >= 1 })
    }

    @Test func aServerThatNeverAnswersFailsTheStepWithinItsOwnTimeout() throws {
        let nodes = try startPool("mute", count: 1)
        let silent = try RoleServer(role: nil)
        defer { silent.stop() }
        let check: [String: Any] = [
            "type": "tcp", "intervalMs": 1000, "timeoutMs": 900, "rise": 1, "fall": 1,
            "steps": [["sendHex": "52 4f 4c 45 0d 0a"], ["expect": "primary", "timeoutMs": 100]],
        ]
        var backend = nodes[0].config()
        backend["healthCheck"] = ["port": Int(silent.port)]
        let balancer = try BalancerProcess(services: [serviceConfig("mute", healthCheck: check, backends: [backend])])
        try balancer.waitForState("down", service: "mute", backend: "mute1")
        let reason = try balancer.backendStatus(service: "mute", backend: "mute1")?["lastChangeReason"] as? String ?? ""
        #expect(reason.contains("step 2 (expect \"primary\"): timeout after 100 ms (nothing received)"), "reason: \(reason)")
        // The hex step was sent as the bytes it spells.
        #expect(silent.lastLine.withLock { $0 } == "ROLE")
    }
}

/// A TCP server that answers "ROLE\r\n" with "role: <role>\r\n" (or, with no role, never
/// answers), on 127.0.0.1 and a free port; a stand-in for a database that says whether it is
/// the primary. `stop()` ends it (its accept thread holds it alive until then).
final class RoleServer: Sendable {
    let port: UInt16
    let role: Mutex<String?>
    let questions = Atomic<Int>(0)
    let lastLine = Mutex("")
    private let listener: Int32

    init(role: String?) throws {
        self.role = Mutex(role)
        listener = try BlockingSocket.listen(on: SocketAddress(ipv4: 0x7F00_0001, port: 0), backlog: 64)
        port = try BlockingSocket.boundPort(listener)
        try WorkerThread.detach(name: "test") { [self] in acceptLoop() }
    }

    /// Wakes the accept thread, whose accept then fails: the loop ends and closes the listener.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        defer { close(listener) }
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            try? WorkerThread.detach(name: "test") { [self] in answer(fd) }
        }
    }

    private func answer(_ fd: Int32) {
        defer { close(fd) }
        try? BlockingSocket.setTimeouts(fd, seconds: 2)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while !received.contains(UInt8(ascii: "\n")) {
            let count = buffer.withUnsafeMutableBytes { (try? BlockingSocket.read(fd, into: $0)) ?? 0 }
            if count == 0 { return }
            received += buffer[..<count]
        }
        let line = String(decoding: received, as: UTF8.self).withoutLineEnd()
        lastLine.withLock { $0 = line }
        questions.add(1, ordering: .relaxed)
        guard line == "ROLE", let role = role.withLock({ $0 }) else {
            // Silent: hold the connection until the checker gives up.
            _ = buffer.withUnsafeMutableBytes { try? BlockingSocket.read(fd, into: $0) }
            return
        }
        try? BlockingSocket.writeAll(fd, Array("role: \(role)\r\n".utf8))
    }
}

private extension String {
    func withoutLineEnd() -> String {
        var text = Substring(self)
        while let last = text.last, last.isNewline || last == " " { text = text.dropLast() }
        return String(text)
    }
}
