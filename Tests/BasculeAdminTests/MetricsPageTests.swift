@testable import BasculeAdmin
@testable import BasculeProxy
import BasculeConfig
import BasculeTestSupport
import Foundation
import Testing

@Suite(.serialized, .timeLimit(.minutes(1)))
struct MetricsPageTests {
    private func scrape(_ target: FakeTarget = FakeTarget(), configure: (AdminServer) -> Void = { _ in }) throws -> HTTPReply {
        let server = try RunningAdminServer(target: target, configure: configure)
        defer { server.stop() }
        return try #require(TestClient.request(port: server.port, "GET", "/metrics"))
    }

    /// name{labels} → value, from exposition text.
    private func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = value
        }
        return out
    }

    @Test func isWellFormedExpositionText() throws {
        let reply = try scrape()
        #expect(reply.status == 200)
        #expect(reply.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        var declared: [String: String] = [:]
        var seenFamilies: [String] = []
        let sampleLine = #/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/#
        for line in reply.body.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(parts.count == 4)
                #expect(declared[String(parts[2])] == nil, "TYPE declared twice for \(parts[2])")
                declared[String(parts[2])] = String(parts[3])
                seenFamilies.append(String(parts[2]))
            } else if line.hasPrefix("# HELP ") {
                continue
            } else {
                let match = try #require(try sampleLine.wholeMatch(in: String(line)), "bad sample line: \(line)")
                let name = String(match.1)
                // Samples of a family must follow its TYPE line, all together.
                #expect(seenFamilies.last == name, "sample \(name) outside its family block")
            }
        }
        for (name, type) in declared {
            #expect(name.hasPrefix("bascule_") || name.hasPrefix("process_"))
            #expect((type == "counter") == name.hasSuffix("_total"), "\(name) is a \(type)")
        }
        for required in ["bascule_backend_up", "bascule_backend_active_connections", "bascule_backend_connections_total",
                         "bascule_backend_connect_errors_total", "bascule_service_active_connections",
                         "bascule_backend_weight", "bascule_backend_state", "bascule_build_info",
                         "process_open_fds", "process_max_fds", "process_cpu_seconds_total", "process_start_time_seconds",
                         "process_resident_memory_bytes", "process_virtual_memory_bytes"] {
            #expect(declared[required] != nil, "missing \(required)")
        }
        // The sum of connect_errors_total by reason; a second series would only repeat it.
        #expect(declared["bascule_backend_connect_failures_total"] == nil)
    }

    @Test func valuesMatchTheTarget() throws {
        let target = FakeTarget()
        target.mutate {
            $0[0].backends[1].admin = .draining
            $0[1].backends[0].healthy = false
            $0[1].backends[0].downs = 3
            $0[1].backends[0].ups = 2
            $0[1].backends[0].downtime = 42.5
            $0[0].backends[0].maxConnections = 500
        }
        let values = samples(try scrape(target).body)
        #expect(values[#"bascule_backend_connections_total{service="web",backend="web-1"}"#] == 40)
        #expect(values[#"bascule_backend_connect_errors_total{service="web",backend="web-1",reason="refused"}"#] == 1)
        #expect(values[#"bascule_backend_connect_errors_total{service="web",backend="web-1",reason="timeout"}"#] == 0)
        #expect(values[#"bascule_backend_transitions_total{service="db",backend="db-1",to="down"}"#] == 3)
        #expect(values[#"bascule_backend_transitions_total{service="db",backend="db-1",to="up"}"#] == 2)
        #expect(values[#"bascule_backend_downtime_seconds_total{service="db",backend="db-1"}"#] == 42.5)
        #expect(values[#"bascule_backend_last_state_change_timestamp_seconds{service="web",backend="web-1"}"#] == 1_700_000_000.25)
        // Limits appear only where they are set.
        #expect(values[#"bascule_backend_max_connections{service="web",backend="web-1"}"#] == 500)
        #expect(values[#"bascule_backend_max_connections{service="web",backend="web-2"}"#] == nil)
        #expect(values[#"bascule_backend_active_connections{service="web",backend="web-2"}"#] == 1)
        #expect(values[#"bascule_service_active_connections{service="web"}"#] == 3)
        #expect(values[#"bascule_service_connections_accepted_total{service="web"}"#] == 59)
        #expect(values[#"bascule_service_connections_failed_total{service="web"}"#] == 2)
        #expect(values[#"bascule_backend_received_bytes_total{service="web",backend="web-1"}"#] == 1200)
        #expect(values[#"bascule_backend_sent_bytes_total{service="web",backend="web-1"}"#] == 5_000_000_000)
        #expect(values[#"bascule_backend_weight{service="web",backend="web-1"}"#] == 3)
        #expect(values[#"bascule_backend_state{service="web",backend="web-2",state="draining"}"#] == 1)
        #expect(values[#"bascule_backend_state{service="web",backend="web-2",state="up"}"#] == 0)
        #expect(values[#"bascule_backend_up{service="db",backend="db-1"}"#] == 0)
        #expect(values[#"bascule_build_info{version="\#(BasculeVersion.string)"}"#] == 1)
        let openFds = try #require(values["process_open_fds"])
        #expect(openFds > 3)
        #expect(try #require(values["process_max_fds"]) >= openFds)
        let resident = try #require(values["process_resident_memory_bytes"])
        #expect(resident > 1_000_000)
        #expect(try #require(values["process_virtual_memory_bytes"]) >= resident)
        #expect(try #require(values["process_cpu_seconds_total"]) > 0)
        // This test process started within the last day, and not in the future.
        let start = try #require(values["process_start_time_seconds"])
        let now = Date().timeIntervalSince1970
        #expect(start <= now + 1 && start > now - 86_400, "start \(start), now \(now)")
    }

    @Test func labelValuesAreEscaped() {
        let text = MetricsPage.render(FakeTarget(services: [.init(name: "a\"b\\c\nd", backends: [.init(name: "x")])]).status())
        #expect(text.contains(#"bascule_backend_up{service="a\"b\\c\nd",backend="x"} 1"#))
    }

    @Test func extraMetricsAreAppended() throws {
        let reply = try scrape {
            $0.extraMetrics = [{ "# HELP bascule_workers Worker threads.\n# TYPE bascule_workers gauge\nbascule_workers 2" }]
        }
        #expect(reply.body.hasSuffix("bascule_workers 2\n"))
    }

    /// The scrape goes through prometheus_client's own parser, the one real scrapers agree with.
    @Test func parsesWithThePrometheusClientParser() throws {
        let target = FakeTarget(services: FakeTarget.standard + [.init(name: "odd \"name\"", backends: [.init(name: "b\\1")])])
        let body = try scrape(target) {
            $0.extraMetrics = [{
                var family = MetricFamily(name: "bascule_connect_seconds", help: "Connect time.", type: .histogram)
                family.addHistogram([("service", "web")], buckets: [(0.001, 2), (0.01, 5)], sum: 0.02, count: 6)
                return family.rendered
            }]
        }.body
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bascule-metrics-\(getpid()).txt")
        try body.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = """
        import sys
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            print("SKIP prometheus_client is not installed"); sys.exit(0)
        for family in text_string_to_metric_families(open(sys.argv[1]).read()):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                print(f"{family.type} {s.name} {labels} {float(s.value)}")
        """
        let run = try CommandRun.run("/usr/bin/env", ["python3", "-c", script, file.path])
        let text = run.stdout.joined(separator: "\n")
        if text.hasPrefix("SKIP") || run.status == 127 {
            print("skipping the prometheus_client check: \(text) \(run.output)")
            return
        }
        #expect(run.status == 0, "parser failed: \(run.output)")
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains("counter bascule_backend_connections_total backend=web-1,service=web 40.0"))
        #expect(lines.contains("gauge bascule_backend_up backend=b\\1,service=odd \"name\" 1.0"))
        #expect(lines.contains { $0.hasPrefix("gauge process_open_fds ") })
        #expect(lines.contains("histogram bascule_connect_seconds_bucket le=+Inf,service=web 6.0"))
    }
}

@Suite struct MetricFamilyTests {
    @Test func rendersAHistogramWithCumulativeBucketsSumAndCount() {
        var family = MetricFamily(name: "bascule_connect_seconds", help: "Connect time.", type: .histogram)
        family.addHistogram([("service", "web")], buckets: [(0.001, 2), (0.01, 5)], sum: 0.02, count: 6)
        #expect(family.rendered == """
        # HELP bascule_connect_seconds Connect time.
        # TYPE bascule_connect_seconds histogram
        bascule_connect_seconds_bucket{service="web",le="0.001"} 2
        bascule_connect_seconds_bucket{service="web",le="0.01"} 5
        bascule_connect_seconds_bucket{service="web",le="+Inf"} 6
        bascule_connect_seconds_sum{service="web"} 0.02
        bascule_connect_seconds_count{service="web"} 6

        """)
    }
}
