import BasculeBackendService
import BasculeTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16, the backend speaks for itself: `bascule-backend --agent-listen` answers agent
/// checks, and the balancer applies the answer as HAProxy does.
@Suite("Agent checks: the backend drains, lowers its weight or takes itself out", .serialized, .timeLimit(.minutes(3)))
struct AgentCheckTests {
    @Test func drainKeepsNewConnectionsAwayWhileAnOpenOneContinues() throws {
        let (first, second) = (try AgentBackend(name: "app1"), try AgentBackend(name: "app2"))
        let balancer = try BalancerProcess(services: [agentService([first, second])])
        try waitForAgent(balancer, "app2", word: "up")
        // A keep-alive connection that landed on app2 (round-robin: within two tries).
        var open: HTTPClientConnection?
        var strays: [HTTPClientConnection] = []
        defer { open?.close(); for stray in strays { stray.close() } }
        for _ in 0..<4 where open == nil {
            let connection = try TestHTTPClient().connect(port: balancer.port("apps"))
            if try connection.get("/whoami").header("X-Backend") == "app2" { open = connection } else { strays.append(connection) }
        }
        let held = try #require(open, "no connection reached app2")

        try second.say("drain #maintenance at 02:00")
        try balancer.waitForState("draining", service: "apps", backend: "app2")
        let agent = try balancer.backendStatus(service: "apps", backend: "app2")?["agent"] as? [String: Any]
        #expect(agent?["word"] as? String == "drain")
        #expect(agent?["said"] as? String == "drain #maintenance at 02:00")
        for _ in 0..<20 { #expect(try balancer.servedBy("apps") == "app1") }
        // The open connection is left alone.
        for _ in 0..<3 { #expect(try held.get("/whoami").header("X-Backend") == "app2") }
        #expect(try balancer.metric("bascule_backend_agent_state", ["backend": "app2", "state": "drain"]) == 1)

        // `ready` ends the drain (as in HAProxy; `up` alone would not).
        try second.say("ready")
        try balancer.waitForState("up", service: "apps", backend: "app2")
        let served = try (0..<10).map { _ in try balancer.servedBy("apps") }
        #expect(served.contains("app2"))
    }

    @Test func aWeightShareOfFiftyPercentHalvesTheBackendsShare() throws {
        let (first, second) = (try AgentBackend(name: "app1"), try AgentBackend(name: "app2"))
        let balancer = try BalancerProcess(services: [agentService([first, second], strategy: "weighted-round-robin")])
        try waitForAgent(balancer, "app2", word: "up")
        let before = try shareOfApp2(balancer, connections: 300)

        try second.say("50%")
        try waitForAgent(balancer, "app2", word: "50%")
        #expect(try balancer.metric("bascule_backend_agent_weight_percent", ["backend": "app2"]) == 50)
        let after = try shareOfApp2(balancer, connections: 300)
        print("agent 50%: app2 took \(before) of 300 connections before, \(after) of 300 after "
              + "(weights 1 and 1; ratio app2/app1 \(Double(before) / Double(300 - before)) -> \(Double(after) / Double(300 - after)))")
        #expect((140...160).contains(before))
        // Half of app1's weight: a third of the connections.
        #expect((90...110).contains(after))
    }

    @Test func downTakesABackendOutEvenWhileItsHealthCheckPasses() throws {
        let (first, second) = (try AgentBackend(name: "app1"), try AgentBackend(name: "app2"))
        let balancer = try BalancerProcess(services: [agentService([first, second])])
        try waitForAgent(balancer, "app2", word: "up")

        try second.say("down #replication lag")
        try balancer.waitForState("down", service: "apps", backend: "app2")
        for _ in 0..<10 { #expect(try balancer.servedBy("apps") == "app1") }
        // The health check still passes: it is the agent that keeps app2 out.
        let checks = try balancer.status()["healthChecks"] as? [[String: Any]] ?? []
        let check = try #require(checks.first { $0["backend"] as? String == "app2" })
        let passedBefore = check["checksTotal"] as? Int ?? 0
        try waitUntil("another passing check on app2", timeout: .seconds(5)) {
            let now = try balancer.status()["healthChecks"] as? [[String: Any]] ?? []
            let latest = now.first { $0["backend"] as? String == "app2" }
            return (latest?["checksTotal"] as? Int ?? 0) > passedBefore && latest?["lastResult"] as? String == "ok"
        }
        #expect(try balancer.state(service: "apps", backend: "app2") == "down")
        #expect((check["agent"] as? [String: Any])?["reason"] as? String == "replication lag")

        // A failing health check is not made healthy by the agent.
        try second.say("up")
        try balancer.waitForState("up", service: "apps", backend: "app2")
        try second.admin("/admin/fail")
        try balancer.waitForState("down", service: "apps", backend: "app2")
        try second.say("ready up 100%")
        // Once /status shows the answer, the balancer has applied it (both are read on its control loop).
        try waitUntil("app2's agent answer applied", timeout: .seconds(5)) {
            (try balancer.backendStatus(service: "apps", backend: "app2")?["agent"] as? [String: Any])?["said"] as? String == "ready up 100%"
        }
        #expect(try balancer.state(service: "apps", backend: "app2") == "down")
        #expect(try balancer.backendStatus(service: "apps", backend: "app2")?["healthy"] as? Bool == false)
    }

    // MARK: Helpers

    private func agentService(_ backends: [AgentBackend], strategy: String = "round-robin") -> [String: Any] {
        serviceConfig("apps", strategy: strategy, healthCheck: healthCheckConfig("http", intervalMs: 200, timeoutMs: 150, rise: 1, fall: 1),
                      backends: backends.map { $0.config() })
    }

    private func waitForAgent(_ balancer: BalancerProcess, _ backend: String, word: String) throws {
        try waitUntil("\(backend)'s agent says \(word) in /status", timeout: .seconds(10)) {
            let agent = try balancer.backendStatus(service: "apps", backend: backend)?["agent"] as? [String: Any]
            return agent?["word"] as? String == word
        }
    }

    /// How many of `connections` new connections app2 served.
    private func shareOfApp2(_ balancer: BalancerProcess, connections: Int) throws -> Int {
        try (0..<connections).reduce(0) { count, _ in count + (try balancer.servedBy("apps") == "app2" ? 1 : 0) }
    }
}

/// A `bascule-backend` with an agent port, and what it tells the agent to say.
final class AgentBackend {
    let name: String
    let process: ManagedProcess
    let port: UInt16
    let agentPort: UInt16

    init(name: String, extraArguments: [String] = []) throws {
        self.name = name
        process = try ManagedProcess(executable: TestBinaries.backend(),
                                     arguments: ["--listen", "127.0.0.1:0", "--name", name, "--agent-listen", "127.0.0.1:0"] + extraArguments)
        port = try Self.port(in: process.waitForLine(containing: "listening on ", timeout: .seconds(15)))
        agentPort = try Self.port(in: process.waitForLine(containing: "agent answering on ", timeout: .seconds(15)))
    }

    deinit {
        process.terminate(grace: .seconds(2))
    }

    func config() -> [String: Any] {
        ["name": name, "address": "127.0.0.1:\(port)", "agent": ["port": Int(agentPort), "intervalMs": 200, "timeoutMs": 150]]
    }

    /// What the agent answers from now on.
    func say(_ text: String) throws {
        let encoded = text.utf8.map { byte -> String in
            let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            return unreserved ? String(UnicodeScalar(byte)) : "%" + String(byte, radix: 16, uppercase: true).leftPadded()
        }.joined()
        try admin("/admin/agent?say=\(encoded)")
    }

    func admin(_ path: String) throws {
        let response = try TestHTTPClient().request("POST", port: port, path: path)
        guard response.status == 200 else {
            throw ManagedProcess.Failure(description: "\(name) answered \(response.status) to POST \(path)")
        }
    }

    private static func port(in line: String) throws -> UInt16 {
        guard let colon = line.lastIndex(of: ":"), let port = UInt16(line[line.index(after: colon)...]), port != 0 else {
            throw ManagedProcess.Failure(description: "bascule-backend printed an unparsable line: \(line)")
        }
        return port
    }
}

private extension String {
    func leftPadded() -> String { count == 1 ? "0" + self : self }
}
