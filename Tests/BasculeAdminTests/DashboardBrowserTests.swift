import BasculeConfig
@testable import BasculeAdmin
import BasculeProxy
import BasculeTestSupport
import Foundation
import Glibc
import Testing

/// The dashboard in a real browser: headless Chromium runs the page's script against a live
/// server and the rendered DOM must show every backend and its state.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct DashboardBrowserTests {
    private static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { access($0, X_OK) == 0 }

    /// Runs the browser with a hard deadline so a wedged browser fails the test instead of hanging it.
    private func runBrowser(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let profile = "\(NSTemporaryDirectory())bascule-chromium-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        // A ManagedProcess: its process group (Chromium's helpers) is killed with it.
        let run = try CommandRun.run(Self.chromium!, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                                      "--user-data-dir=\(profile)"] + arguments, timeout: .seconds(60))
        return (run.status, run.stdout.joined(separator: "\n"))
    }

    @Test func showsEveryBackendItsStateAndTheServiceChartsInChromium() throws {
        guard Self.chromium != nil else {
            print("skipping the browser check: chromium is not installed (apt-get install chromium)")
            return
        }
        let target = FakeTarget()
        target.mutate {
            $0[0].backends[1].admin = .draining
            $0[1].backends[0].healthy = false
            $0[1].backends[0].reason = "health check: connection refused"
            $0[1].backends[0].downtime = 75
            $0[1].backends[0].downs = 2
            $0[0].backends[1].agent = AgentVerdict(effect: .ready, weightPercent: 50, word: "50%", said: "up 50% #busy")
        }
        // The health monitor's part of /status, as the CLI adds it: web-1's checks pass, web-3's
        // fail while it is still up.
        let check: (String, String, Double, String, Int, Int) -> JSONValue = { backend, result, latency, reason, total, failed in
            var members: [(String, JSONValue)] = [
                ("service", .string("web")), ("backend", .string(backend)), ("type", .string("http")),
                ("lastResult", .string(result)), ("reason", .string(reason)), ("latencyMs", .double(latency)),
                ("checksTotal", .int(total)), ("failuresTotal", .int(failed))]
            if backend == "web-1" { members.append(("target", .string("127.0.0.1:59999"))) }
            return .object(members)
        }
        var options = AdminServer.Options()
        options.historyIntervalMs = 40
        options.historySamples = 1500  // a minute: the burst below stays on the charts while the browser runs
        let server = try RunningAdminServer(token: "s3cret", target: target, options: options) {
            $0.extraStatus = [(key: "healthChecks", value: {
                .array([check("web-1", "ok", 1.5, "", 120, 0), check("web-3", "failed", 0, "HTTP 503 (expected 200)", 40, 3)])
            }), (key: "xdp", value: {
                // As XDPMetrics.status writes it: db runs in the kernel data plane.
                let traffic: (Int, Int) -> JSONValue = { .object([("packets", .int($0)), ("bytes", .int($1))]) }
                return .object([("interface", .string("xdp0")), ("mode", .string("native")),
                                ("services", .object([("db", .object([("traffic", traffic(4321, 2_097_152)),
                                                                      ("backends", .object([("db-1", traffic(4321, 2_097_152))]))]))]))])
            })]
        }
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/"

        // Traffic that rises and falls: web gets a burst of connections and bytes per sample
        // interval, db none. Each step waits for the server to have taken its sample.
        func samples() throws -> Int {
            let reply = try #require(TestClient.request(port: server.port, "GET", "/status"))
            let status = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
            let history = (status["history"] as? [String: Any])?["services"] as? [[String: Any]] ?? []
            return (history.first { $0["name"] as? String == "web" }?["connectionsPerSecond"] as? [Double])?.count ?? 0
        }
        for step in 0..<30 {
            let burst = step < 15 ? step + 1 : 30 - step
            target.mutate {
                $0[0].backends[0].total += burst
                $0[0].backends[0].bytesOut += UInt64(burst) << 20
            }
            let before = try samples()
            try waitUntil("a history sample after step \(step)", timeout: .seconds(5), poll: .milliseconds(10)) { try samples() > before }
        }

        let dom = try runBrowser(["--virtual-time-budget=3000", "--dump-dom", url])
        #expect(dom.status == 0)
        for name in ["web-1", "web-2", "web-3", "db-1"] {
            #expect(dom.output.contains("data-backend=\"\(name)\""), "backend \(name) not rendered")
        }
        #expect(dom.output.contains("<span class=\"state draining\">draining</span>"))
        #expect(dom.output.contains("<span class=\"state down\">down</span>"))
        #expect(dom.output.contains("health check: connection refused"))
        #expect(dom.output.contains("NOT READY"))
        // An XDP service: the kernel's forwarded packets and bytes, per service and per backend.
        #expect(dom.output.contains("XDP on xdp0: 4321 packets, 2.0 MiB forwarded"))
        #expect(dom.output.contains(#"<div class="kernel">2.0 MiB · 4321 packets</div>"#))
        #expect(dom.output.contains("<div class=\"verdict\">ok · 1.5 ms</div>"))
        #expect(dom.output.contains("<td class=\"check failed\"><div class=\"verdict\">failed: HTTP 503 (expected 200)</div>"))
        #expect(dom.output.contains("no check"), "backends without an active check say so")
        // The agent's word under the state; the probe port under the check.
        #expect(dom.output.contains(#"<div class="sub agent" title="up 50% #busy">agent: 50%</div>"#))
        #expect(dom.output.contains(#"<div class="sub target">checks 127.0.0.1:59999</div>"#))

        // Per backend: check counts and downtime.
        #expect(dom.output.contains(">120 checks · 0 failed<"))
        #expect(dom.output.contains("<div class=\"sub counts down\">40 checks · 3 failed</div>"))
        #expect(dom.output.contains(">1 min 15 s · 2× down<"), "db-1's downtime and transitions")
        #expect(dom.output.contains(">0 s<"), "a backend never down shows no downtime")

        // Per service: two charts beside the table, drawn from the server's history.
        let sections = dom.output.components(separatedBy: "<section data-service=").dropFirst()
        #expect(sections.count == 2)
        for section in sections {
            #expect(section.contains("data-chart=\"connections\"") && section.contains("data-chart=\"bytes\""))
        }
        let web = try #require(sections.first { $0.hasPrefix("\"web\"") })
        let points = try #require(web.firstMatch(of: #/data-points="(\d+)"/#)).output.1
        #expect(Int(points)! >= 20, "web's connection chart has \(points) points")
        let line = try #require(web.firstMatch(of: #/<polyline class="line" points="([^"]+)"/#)).output.1
        let heights = line.split(separator: " ").compactMap { $0.split(separator: ",").last.flatMap { Double($0) } }
        #expect(Set(heights).count > 3, "the traffic rose and fell, so the line is not flat: \(line)")
        #expect(web.contains("peak "))

        // One self-contained document: nothing it could fetch but the admin endpoint itself.
        let outside = Dashboard.html.components(separatedBy: "://").dropFirst().map { $0.prefix(20) }
        #expect(outside.allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") }, "the page names another origin: \(outside)")
        #expect(!Dashboard.html.contains("src="))

        let screenshot = "\(NSTemporaryDirectory())bascule-dashboard-\(getpid()).png"
        let shot = try runBrowser(["--virtual-time-budget=3000", "--window-size=1500,760", "--screenshot=\(screenshot)", url])
        #expect(shot.status == 0)
        #expect(FileManager.default.fileExists(atPath: screenshot))
        print("dashboard screenshot: \(screenshot)")
    }
}
