import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// docs/metrics.md and monitoring/ against the /metrics page of a real `bascule`: the reference
/// lists exactly what is exported, `promtool` accepts the page and the alert rules (and their
/// unit tests pass), and every rule and dashboard query names a metric that really exists.
@Suite("Metrics reference and monitoring pack", .serialized, .timeLimit(.minutes(3)))
struct MonitoringPackTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// One family of the exposition text: its type and the label names its samples carry.
    struct Family: Equatable {
        var type: String
        var labels: Set<String>
    }

    static let dnsFamilyPrefix = "bascule_dns_"

    @Test func theMetricsReferenceListsExactlyTheFamiliesOfARealPageWithTheirTypesAndLabels() throws {
        let (_, page, _) = try Self.richPage()
        let exported = Self.families(page)
        let documented = try Self.documentedFamilies()
        let undocumented = Set(exported.keys).subtracting(documented.keys).sorted()
        // The kernel data plane's families need root, a namespace and BPF: XDPForwardingTests
        // checks them against a real page of an XDP node. The DNS families need a backend by
        // name, hence a DNS server: DNSBackendTests holds its page (from a namespace with
        // dnsmasq) against the same rows.
        let absent = Set(documented.keys).subtracting(exported.keys)
            .filter { !$0.hasPrefix("bascule_xdp_") && !$0.hasPrefix(Self.dnsFamilyPrefix) }.sorted()
        #expect(undocumented.isEmpty, "exported but not in docs/metrics.md: \(undocumented)")
        #expect(absent.isEmpty, "in docs/metrics.md but not on the page: \(absent)")
        for (name, family) in exported {
            guard let doc = documented[name] else { continue }
            #expect(doc == family, "\(name): the page has \(family), docs/metrics.md says \(doc)")
        }
    }

    @Test func promtoolFindsNothingToSayAboutThePage() throws {
        guard let promtool = CommandRun.which("promtool") else {
            print("skipping promtool check metrics: promtool is not installed (Debian: apt-get install prometheus)")
            return
        }
        let (balancer, page, _) = try Self.richPage()
        let path = balancer.directory + "/metrics.txt"
        try page.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try CommandRun.run("/bin/sh", ["-c", "'\(promtool)' check metrics < '\(path)'"])
        #expect(result.status == 0 && result.text.isEmpty, "promtool check metrics:\n\(result.text)")
    }

    @Test func everyDashboardQueryNamesMetricsThatARealPageHas() throws {
        let (_, page, _) = try Self.richPage()
        let names = Self.sampleNames(page)
        let data = try Data(contentsOf: Self.repository.appendingPathComponent("monitoring/grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var queries: [String] = []
        Self.collect(keys: ["expr", "definition"], in: dashboard, into: &queries)
        #expect(queries.count >= 20, "the dashboard has \(queries.count) queries")
        for query in queries {
            let used = Self.metricNames(in: query)
            #expect(!used.isEmpty, "a dashboard query names no Bascule metric: \(query)")
            for name in used {
                #expect(names.contains(name), "the dashboard queries \(name), which the page does not have: \(query)")
            }
        }
    }

    @Test func theAlertRulesPassTheirPromtoolTestsAndNameMetricsThatARealPageHas() throws {
        let (_, page, _) = try Self.richPage()
        let names = Self.sampleNames(page)
        let rules = try String(contentsOf: Self.repository.appendingPathComponent("monitoring/alerts.yml"), encoding: .utf8)
        let alerts = rules.split(separator: "\n").filter { $0.contains("- alert: ") }.map { $0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces) }
        #expect(Set(alerts).isSuperset(of: ["BasculeBackendDown", "BasculeServiceNotReady", "BasculeNoEligibleBackend",
                                            "BasculeConfigReloadFailed", "BasculeRestartPending", "BasculeDescriptorsNearLimit",
                                            "BasculeConnectErrorRate", "BasculeNodeDrained"]), "\(alerts)")
        for name in Self.metricNames(in: rules) {
            #expect(names.contains(name), "alerts.yml uses \(name), which the page does not have")
        }

        guard let promtool = CommandRun.which("promtool") else {
            print("skipping promtool check/test rules: promtool is not installed (Debian: apt-get install prometheus)")
            return
        }
        let directory = Self.repository.appendingPathComponent("monitoring").path
        let check = try CommandRun.run("/bin/sh", ["-c", "cd '\(directory)' && '\(promtool)' check rules alerts.yml"])
        #expect(check.status == 0, "promtool check rules:\n\(check.text)")
        let test = try CommandRun.run("/bin/sh", ["-c", "cd '\(directory)' && '\(promtool)' test rules alerts.test.yml"])
        #expect(test.status == 0 && test.text.contains("SUCCESS"), "promtool test rules:\n\(test.text)")
        print("promtool test rules monitoring/alerts.test.yml: \(test.text.split(separator: "\n").last ?? "")")
    }

    /// The downtime and transition counters follow a backend killed and started again.
    @Test func aBackendKilledAndRestartedIsCountedDownOnceUpOnceWithItsDowntime() throws {
        let pool = try startPool("pub", count: 2)
        let balancer = try BalancerProcess(services: [
            serviceConfig("publishing", healthCheck: healthCheckConfig("http", intervalMs: 100, timeoutMs: 80, rise: 2, fall: 2),
                          backends: pool.map { $0.config() }),
        ])
        let pub2 = ["service": "publishing", "backend": "pub2"]
        func value(_ name: String, _ extra: [String: String] = [:]) throws -> Double {
            try balancer.metric(name, pub2.merging(extra) { $1 })
        }
        try waitUntil("pub2 is checked healthy", timeout: .seconds(10)) {
            try value("bascule_health_checks_total", ["result": "ok"]) >= 2
        }
        #expect(try value("bascule_backend_transitions_total", ["to": "down"]) == 0)
        #expect(try value("bascule_backend_downtime_seconds_total") == 0)

        let killedAt = Date().timeIntervalSince1970
        try pool[1].kill()
        try waitUntil("pub2 is down", timeout: .seconds(10)) { try value("bascule_backend_up") == 0 }
        #expect(try value("bascule_backend_transitions_total", ["to": "down"]) == 1)
        #expect(try value("bascule_backend_transitions_total", ["to": "up"]) == 0)
        let changedAt = try value("bascule_backend_last_state_change_timestamp_seconds")
        #expect(changedAt >= killedAt - 0.1 && changedAt <= Date().timeIntervalSince1970 + 0.1,
                "state changed at \(changedAt), killed at \(killedAt)")
        // The current outage counts while it lasts.
        try waitUntil("pub2's downtime grows past half a second", timeout: .seconds(10)) {
            try value("bascule_backend_downtime_seconds_total") >= 0.5
        }

        try pool[1].restart()
        try waitUntil("pub2 is up again", timeout: .seconds(10)) { try value("bascule_backend_up") == 1 }
        let upAt = Date().timeIntervalSince1970
        #expect(try value("bascule_backend_transitions_total", ["to": "up"]) == 1)
        #expect(try value("bascule_backend_transitions_total", ["to": "down"]) == 1)
        let downtime = try value("bascule_backend_downtime_seconds_total")
        #expect(downtime >= 0.5 && downtime <= upAt - killedAt, "downtime \(downtime) s, kill to up \(upAt - killedAt) s")
        // Back up, it stops growing: two more good checks later it is the same.
        let checks = try value("bascule_health_checks_total", ["result": "ok"])
        try waitUntil("two more checks of pub2", timeout: .seconds(10)) {
            try value("bascule_health_checks_total", ["result": "ok"]) >= checks + 2
        }
        #expect(try value("bascule_backend_downtime_seconds_total") == downtime)
        #expect(try value("bascule_backend_downtime_seconds_total", ["backend": "pub1"]) == 0)
    }

    // MARK: - A page with every family

    /// A balancer configured so that every family appears: HTTP checks, every limit set, an
    /// access log, traffic relayed, and the admin endpoint already answered once.
    static func richPage() throws -> (balancer: BalancerProcess, page: String, pool: [PoolBackend]) {
        let pool = try startPool("pub", count: 2)
        var service = serviceConfig("publishing", healthCheck: healthCheckConfig("http"),
                                    backends: [pool[0].config(), pool[1].config()])
        service["maxConnections"] = 1000
        service["maxConnectionsPerClient"] = 100
        var backends = service["backends"] as! [[String: Any]]
        backends[0]["maxConnections"] = 500
        // A check target apart from the traffic address (pub2's port answers pub1's checks),
        // and an agent nobody answers on: their families are exported all the same.
        backends[0]["healthCheck"] = ["port": Int(pool[1].port)]
        backends[1]["agent"] = ["port": Int(try freeLoopbackPort()), "intervalMs": 200, "timeoutMs": 100]
        service["backends"] = backends
        // An address routed by TLS server name, so its route families appear.
        let shared = "127.0.0.1:\(try freeLoopbackPort())"
        let routed: [[String: Any]] = [
            ["name": "tls-www", "listen": shared, "serverNames": ["www.example.com"], "healthCheck": ["type": "none"],
             "backends": [["name": "www1", "address": pool[0].config()["address"]!]]],
            ["name": "tls-default", "listen": shared, "healthCheck": ["type": "none"],
             "backends": [["name": "other1", "address": pool[0].config()["address"]!]]],
        ]
        let balancer = try BalancerProcess(services: [service] + routed,
                                           extraTopLevel: ["maxConnections": 5000, "accessLog": "-"])
        try waitUntil("both backends checked", timeout: .seconds(10)) {
            try balancer.metric("bascule_health_checks_total", ["result": "ok"]) >= 4
        }
        for _ in 0..<4 {
            #expect(try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").status == 200)
        }
        try waitUntil("the connections are counted", timeout: .seconds(5)) {
            try balancer.metric("bascule_backend_connections_total") == 4
        }
        _ = try balancer.metrics()
        // The second scrape has the first one's admin response counted.
        return (balancer, try balancer.metrics(), pool)
    }

    /// TYPE lines and the label names of the samples that follow them (`le` is the histogram's).
    static func families(_ page: String) -> [String: Family] {
        var families: [String: Family] = [:]
        var current: String?
        for line in page.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                current = String(parts[2])
                families[current!] = Family(type: String(parts[3]), labels: [])
            } else if !line.hasPrefix("#"), let name = current {
                families[name]?.labels.formUnion(labelNames(line).subtracting(["le"]))
            }
        }
        return families
    }

    static func labelNames(_ sample: Substring) -> Set<String> {
        guard let open = sample.firstIndex(of: "{") else { return [] }
        var names: Set<String> = []
        var name = ""
        var inValue = false
        var escaped = false
        for character in sample[sample.index(after: open)...] {
            if inValue {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inValue = false }
            } else if character == "=" {
                names.insert(name)
                name = ""
            } else if character == "\"" {
                inValue = true
            } else if character == "}" {
                break
            } else if character != "," {
                name.append(character)
            }
        }
        return names
    }

    static func sampleNames(_ page: String) -> Set<String> {
        Set(page.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            String(line.prefix { $0 != "{" && $0 != " " })
        })
    }

    /// Rows "| `name` | type | `label`, `label` | meaning |" of docs/metrics.md.
    static func documentedFamilies() throws -> [String: Family] {
        let text = try String(contentsOf: repository.appendingPathComponent("docs/metrics.md"), encoding: .utf8)
        var families: [String: Family] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { continue }
            let name = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let labels = cells[3].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "` "))}.filter { !$0.isEmpty }
            #expect(families[name] == nil, "\(name) is documented twice")
            families[name] = Family(type: cells[2], labels: Set(labels))
        }
        return families
    }

    static func metricNames(in text: String) -> Set<String> {
        let pattern = #/\b(bascule|process)_[a-z0-9_]+/#
        return Set(text.matches(of: pattern).map { String($0.output.0) })
    }

    static func collect(keys: Set<String>, in value: Any, into out: inout [String]) {
        if let object = value as? [String: Any] {
            for (key, child) in object {
                if keys.contains(key), let text = child as? String { out.append(text) } else { collect(keys: keys, in: child, into: &out) }
            }
        } else if let array = value as? [Any] {
            for child in array { collect(keys: keys, in: child, into: &out) }
        }
    }
}
