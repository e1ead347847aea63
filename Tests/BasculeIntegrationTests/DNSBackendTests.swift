import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Backends given by DNS name, against a real DNS server (dnsmasq) in a network namespace of
/// the test's own: the pool follows the records within their TTL, keeps its addresses when
/// the server stops (and says so in /status and /metrics), and AAAA records make IPv6 backends.
@Suite("Backends by DNS name", .serialized, .timeLimit(.minutes(3)))
struct DNSBackendTests {
    static let backendPort = 8080
    static let servicePort = 7000
    static let adminPort = 9000

    /// /status inside the namespace.
    private func status(_ lab: DNSNamespace) throws -> [String: Any] {
        let response = try lab.get("http://127.0.0.1:\(Self.adminPort)/status")
        guard response.status == 200, let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] else {
            throw ManagedProcess.Failure(description: "GET /status answered \(response.status): \(response.body)")
        }
        return object
    }

    /// The service's backends as "name state".
    private func pool(_ lab: DNSNamespace) throws -> [String] {
        let services = try status(lab)["services"] as? [[String: Any]] ?? []
        return (services.first?["backends"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "?") \($0["state"] ?? "?")" }.sorted()
    }

    private func name(_ lab: DNSNamespace, _ host: String) throws -> [String: Any]? {
        (try status(lab)["dnsNames"] as? [[String: Any]])?.first { $0["name"] as? String == host }
    }

    /// Which backends answer fresh connections through the balancer.
    private func answering(_ lab: DNSNamespace, connections: Int = 12) throws -> Set<String> {
        var names: Set<String> = []
        for _ in 0..<connections {
            let response = try lab.get("http://127.0.0.1:\(Self.servicePort)/whoami")
            if response.status == 200, let backend = response.headers["x-backend"] { names.insert(backend) }
        }
        return names
    }

    @Test(.enabled(if: DNSNamespace.isAvailable))
    func thePoolFollowsTheRecordsWithinTheTTLKeepsItsAddressesWhenTheServerStopsAndTakesAAAA() throws {
        let lab = try DNSNamespace(records: ["127.0.0.2 pool.bascule.test", "127.0.0.3 pool.bascule.test"])
        defer { lab.stop() }
        // A backend per address the records will use, on the same port (the namespace is ours:
        // nothing else listens in it).
        for (backend, listen) in [("b2", "127.0.0.2"), ("b3", "127.0.0.3"), ("b4", "127.0.0.4"), ("b6", "[::1]")] {
            let process = try lab.run(try TestBinaries.backend(), ["--listen", "\(listen):\(Self.backendPort)", "--name", backend])
            _ = try process.waitForLine(containing: "listening on ", timeout: .seconds(15))
        }
        let config: [String: Any] = [
            "workers": 1,
            "admin": ["listen": "127.0.0.1:\(Self.adminPort)"],
            "dns": ["minRefreshMs": 200, "maxRefreshMs": 5000],
            "services": [[
                "name": "web", "listen": "127.0.0.1:\(Self.servicePort)", "healthCheck": ["type": "none"],
                "backends": [["name": "pool", "address": "pool.bascule.test:\(Self.backendPort)", "weight": 2],
                             ["name": "late", "address": "late.bascule.test:\(Self.backendPort)"]],
            ]],
        ]
        let configPath = lab.directory + "/config.json"
        try BalancerProcess.write(config, to: configPath)

        // `check` warns about the name that does not resolve yet; it is not an error.
        let check = try lab.exec(try TestBinaries.bascule(), ["check", "--config", configPath])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.text.contains("late.bascule.test does not resolve now (NXDOMAIN"), "\(check.output)")
        #expect(!check.text.contains("pool.bascule.test does not resolve"), "\(check.output)")

        let balancer = try lab.run(try TestBinaries.bascule(), ["run", "--config", configPath, "--log-level", "info"])
        _ = try balancer.waitForLine(containing: "ready", timeout: .seconds(30))
        #expect(try pool(lab) == ["pool@127.0.0.2 up", "pool@127.0.0.3 up"], "resolved before the listeners opened")
        #expect(balancer.recentOutput(limit: 80).contains("name does not resolve; starting without its backends"))
        let first = try #require(try status(lab)["services"] as? [[String: Any]]).first?["backends"] as? [[String: Any]]
        #expect(first?.first?["origin"] as? String == "dns" && first?.first?["weight"] as? Int == 2)
        #expect((first?.first?["resolvedFrom"] as? [String: Any])?["name"] as? String == "pool.bascule.test:\(Self.backendPort)")
        #expect(try answering(lab) == ["b2", "b3"])

        // The records change: 127.0.0.2 leaves, 127.0.0.4 and ::1 (AAAA) join.
        try lab.setRecords(["127.0.0.3 pool.bascule.test", "127.0.0.4 pool.bascule.test", "::1 pool.bascule.test"])
        let changed = ContinuousClock.now
        lab.reloadServer()
        let expected = ["pool@127.0.0.3 up", "pool@127.0.0.4 up", "pool@::1 up"]
        try waitUntil("the pool follows the new records", timeout: .seconds(10), poll: .milliseconds(25)) { try pool(lab) == expected }
        let followed = ContinuousClock.now - changed
        print("dns: the pool followed a change of records in \(followed.formatted(.units(allowed: [.milliseconds]))) (TTL 1 s)")
        // Within the records' TTL (1 s), with room for the drain poll (100 ms) and this machine's load.
        #expect(followed < .milliseconds(2500), "followed after \(followed)")
        #expect(try answering(lab) == ["b3", "b4", "b6"])
        #expect(try lab.get("http://127.0.0.1:\(Self.adminPort)/metrics").body
                    .contains(#"bascule_dns_resolutions_total{name="pool.bascule.test",result="success"}"#))

        // The server stops: every query is refused, the pool stays, and /status says why.
        lab.stopServer()
        try waitUntil("the failure shows in /status", timeout: .seconds(10)) {
            (try name(lab, "pool.bascule.test")?["consecutiveFailures"] as? Int ?? 0) >= 2
        }
        let failing = try #require(try name(lab, "pool.bascule.test"))
        #expect(failing["lastFailureReason"] as? String == "the DNS server refused the query or is not listening")
        #expect(failing["addresses"] as? [String] == ["127.0.0.3", "127.0.0.4", "::1"])
        #expect(failing["lastSuccessTimestamp"] is Double && failing["nextRefreshInSeconds"] is Double)
        #expect(try pool(lab) == expected)
        #expect(try answering(lab) == ["b3", "b4", "b6"])
        let metrics = try lab.get("http://127.0.0.1:\(Self.adminPort)/metrics").body
        #expect(metrics.contains(#"bascule_dns_resolutions_total{name="pool.bascule.test",result="refused"}"#))
        #expect(metrics.contains(#"bascule_dns_last_change_timestamp_seconds{name="pool.bascule.test"}"#))
        #expect(balancer.recentOutput(limit: 200).contains("dns: resolution failed; keeping the last good addresses"))

        // docs/metrics.md lists exactly the DNS families of this page, with their types and labels.
        let exported = MonitoringPackTests.families(metrics).filter { $0.key.hasPrefix(MonitoringPackTests.dnsFamilyPrefix) }
        let documented = try MonitoringPackTests.documentedFamilies().filter { $0.key.hasPrefix(MonitoringPackTests.dnsFamilyPrefix) }
        #expect(exported == documented)

        // The server is back with the late name: it joins without a restart.
        try lab.setRecords(["127.0.0.3 pool.bascule.test", "127.0.0.4 pool.bascule.test", "::1 pool.bascule.test",
                            "127.0.0.2 late.bascule.test"])
        try lab.startServer()
        try waitUntil("the late name resolves", timeout: .seconds(15), poll: .milliseconds(50)) {
            try pool(lab).contains("late@127.0.0.2 up")
        }
        // The failing name is retried with a growing back-off (at most maxRefreshMs, 5 s here).
        try waitUntil("the name resolves again", timeout: .seconds(10), poll: .milliseconds(50)) {
            try name(lab, "pool.bascule.test")?["consecutiveFailures"] as? Int == 0
        }

        // SIGHUP with a new weight for the name: its backends stay (same connections, same
        // counters) with the new weight, and nothing is reported as an undone runtime change.
        var services = config["services"] as! [[String: Any]]
        services[0]["backends"] = [["name": "pool", "address": "pool.bascule.test:\(Self.backendPort)", "weight": 5],
                                   ["name": "late", "address": "late.bascule.test:\(Self.backendPort)"]]
        var reloaded = config
        reloaded["services"] = services
        try BalancerProcess.write(reloaded, to: configPath)
        balancer.signal(SIGHUP)
        try waitUntil("the reload applies the new weight", timeout: .seconds(10)) {
            let backends = (try status(lab)["services"] as? [[String: Any]])?.first?["backends"] as? [[String: Any]] ?? []
            return backends.filter { ($0["name"] as? String)?.hasPrefix("pool@") == true }.map { $0["weight"] as? Int } == [5, 5, 5]
        }
        #expect(try pool(lab) == (expected + ["late@127.0.0.2 up"]).sorted())
        let runtime = try #require(try status(lab)["runtimeChanges"] as? [String: Any])
        #expect(runtime["differsFromFile"] as? Bool == false && (runtime["lastReloadUndid"] as? [Any])?.isEmpty == true)
    }
}
