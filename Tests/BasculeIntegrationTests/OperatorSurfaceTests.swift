import BasculeBackendService
import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The operator surface (issue 5) against real traffic: metrics that count it, the runtime
/// API during a download, the admin token, readiness.
@Suite("Operator surface under real traffic", .serialized, .timeLimit(.minutes(3)))
struct OperatorSurfaceTests {
    @Test func metricsCountTheConnectionsAndBytesTheTestSent() throws {
        let pool = try startPool("pub", count: 2)
        let balancer = try BalancerProcess(services: [
            serviceConfig("publishing", strategy: "round-robin", healthCheck: healthCheckConfig("tcp"), backends: pool.map { $0.config() }),
        ])
        let port = balancer.port("publishing")
        let requests = 40
        var sent = 0, received = 0
        var perBackend: [String: Int] = [:]
        for index in 0..<requests {
            // Raw sockets, so the test knows every byte each way.
            let socket = try TCPClient(port: port)
            let request = Array("GET /whoami?n=\(index) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
            try socket.sendAll(request)
            let response = try socket.readToEOF()
            socket.close()
            sent += request.count
            received += response.count
            let text = String(decoding: response, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200"))
            let backend = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-backend:") }
                .map { $0.dropFirst("x-backend:".count).trimmingCharacters(in: .whitespaces) } ?? "?"
            perBackend[backend, default: 0] += 1
        }
        let service = ["service": "publishing"]
        try waitUntil("every connection finished and counted", timeout: .seconds(5)) {
            try balancer.metric("bascule_service_active_connections", service) == 0
                && Int(try balancer.metric("bascule_backend_sent_bytes_total", service)) == received
        }
        #expect(Int(try balancer.metric("bascule_backend_connections_total", service)) == requests)
        #expect(Int(try balancer.metric("bascule_service_connections_accepted_total", service)) == requests)
        #expect(Int(try balancer.metric("bascule_service_connections_total", service)) == requests)
        #expect(try balancer.metric("bascule_service_connections_failed_total", service) == 0)
        #expect(try balancer.metric("bascule_backend_connect_errors_total", service) == 0)
        #expect(try balancer.metric("bascule_service_retries_total", service) == 0)
        #expect(Int(try balancer.metric("bascule_backend_received_bytes_total", service)) == sent)
        #expect(Int(try balancer.metric("bascule_backend_sent_bytes_total", service)) == received)
        for backend in pool {
            #expect(Int(try balancer.metric("bascule_backend_connections_total", ["backend": backend.name])) == perBackend[backend.name, default: 0])
            #expect(try balancer.metric("bascule_backend_up", ["backend": backend.name]) == 1)
        }

        // A real Prometheus parser, where one is installed.
        guard let python = CommandRun.which("python3"),
              try CommandRun.run(python, ["-c", "import prometheus_client"], timeout: .seconds(60)).status == 0 else {
            print("skipping the prometheus_client parse: python3 with prometheus_client is not installed")
            return
        }
        let pagePath = balancer.directory + "/metrics.txt"
        try Data(try balancer.metrics().utf8).write(to: URL(fileURLWithPath: pagePath))
        let script = """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
            total = sum(s.value for f in families for s in f.samples if s.name == "bascule_backend_connections_total")
            print("families", len(families))
            print("connections", int(total))
            """
        let parsed = try CommandRun.run(python, ["-c", script, pagePath], timeout: .seconds(60))
        #expect(parsed.status == 0, "prometheus_client could not parse /metrics:\n\(parsed.output)")
        #expect(parsed.output.contains("connections \(requests)"), "\(parsed.output)")
    }

    @Test func drainingTheServingBackendLetsItsDownloadFinishAndSendsNewConnectionsElsewhere() throws {
        let pool = try startPool("pub", count: 3)
        let balancer = try BalancerProcess(services: [serviceConfig("publishing", backends: pool.map { $0.config() })])
        let port = balancer.port("publishing")
        let size: UInt64 = 100 << 20
        let hasher = SHA256Hasher()
        var servedBy = ""
        var drained = false
        let download = try streamDownload(port: port, path: "/content/pkg-drain?size=\(size)", timeout: .seconds(30),
                                          onHead: { _, headers in
                                              servedBy = headers.first { $0.name.lowercased() == "x-backend" }?.value ?? ""
                                          }) { chunk, total in
            hasher.update(chunk)
            guard !drained && total >= 10 << 20 else { return }
            drained = true
            let answer = try balancer.admin("POST", "/services/publishing/backends/\(servedBy)/drain")
            #expect(answer.status == 200, "\(answer.bodyText)")
            try balancer.waitForState("draining", service: "publishing", backend: servedBy)
            let status = try balancer.backendStatus(service: "publishing", backend: servedBy)
            #expect(status?["activeConnections"] as? Int == 1)
            for _ in 0..<12 { #expect(try balancer.servedBy("publishing") != servedBy) }
        }
        #expect(drained)
        #expect(download.status == 200)
        #expect(download.complete, "the download was cut: \(download.cut ?? "?")")
        #expect(hasher.finalize() == ContentGenerator(name: "pkg-drain").sha256(size: size))
        #expect(try balancer.state(service: "publishing", backend: servedBy) == "draining")
        for _ in 0..<6 { #expect(try balancer.servedBy("publishing") != servedBy) }

        let answer = try balancer.admin("POST", "/services/publishing/backends/\(servedBy)/enable")
        #expect(answer.status == 200)
        try balancer.waitForState("up", service: "publishing", backend: servedBy)
        let backend = servedBy
        try waitUntil("\(backend) takes new connections again", timeout: .seconds(5)) {
            try balancer.servedBy("publishing") == backend
        }
    }

    @Test func aWrongTokenIsRefusedAndChangesNothingWhileTheRightOneActs() throws {
        let pool = try startPool("pub", count: 2)
        let token = "fault-token-\(UInt32.random(in: 0...UInt32.max))"
        let balancer = try BalancerProcess(services: [serviceConfig("publishing", backends: pool.map { $0.config() })],
                                           adminToken: token)
        let drain = "/services/publishing/backends/pub1/drain"
        let linesBefore = balancer.process.lineCount

        for presented in [token + "x", "", "wrong"] as [String?] + [nil] {
            let answer = try balancer.admin("POST", drain, token: presented)
            #expect(answer.status == 401, "token \(presented ?? "none"): \(answer.status) \(answer.bodyText)")
            #expect(try balancer.state(service: "publishing", backend: "pub1") == "up")
        }
        let weight = try balancer.admin("PUT", "/services/publishing/backends/pub1/weight", token: "nope", body: Array("7".utf8))
        #expect(weight.status == 401)
        #expect(try balancer.backendStatus(service: "publishing", backend: "pub1")?["weight"] as? Int == 1)
        try balancer.process.waitForLine(containing: "wrong or missing token", after: linesBefore, timeout: .seconds(5))

        // Reading needs no token.
        #expect(try balancer.admin("GET", "/status").status == 200)
        #expect(try balancer.admin("GET", "/metrics").status == 200)

        let accepted = try balancer.admin("POST", drain, token: token)
        #expect(accepted.status == 200, "\(accepted.bodyText)")
        #expect(try balancer.state(service: "publishing", backend: "pub1") == "draining")
        let reweighted = try balancer.admin("PUT", "/services/publishing/backends/pub1/weight", token: token, body: Array("7".utf8))
        #expect(reweighted.status == 200)
        #expect(try balancer.backendStatus(service: "publishing", backend: "pub1")?["weight"] as? Int == 7)
        #expect(try balancer.admin("POST", "/services/publishing/backends/pub1/enable", token: token).status == 200)
        #expect(try balancer.state(service: "publishing", backend: "pub1") == "up")
    }

    @Test func readinessFailsNamingTheServiceWhoseBackendsAllFail() throws {
        let pub = try startPool("pub", count: 2)
        let mgmt = try PoolBackend(name: "mgmt1", role: .management)
        let balancer = try BalancerProcess(services: [
            serviceConfig("publishing", healthCheck: healthCheckConfig("http"), backends: pub.map { $0.config() }),
            serviceConfig("management", strategy: "source-hash", healthCheck: healthCheckConfig("tcp"), backends: [mgmt.config()]),
        ])
        // Checks have run and agree the pool is healthy.
        try waitUntil("checks ran on every backend", timeout: .seconds(10)) {
            try balancer.metric("bascule_health_checks_total", ["result": "ok"]) >= 6
        }
        let ready = try balancer.admin("GET", "/readyz")
        #expect(ready.status == 200, "\(ready.bodyText)")

        for backend in pub { try backend.admin("/admin/fail") }
        var notReady = ready
        try waitUntil("/readyz answers 503", timeout: .seconds(10)) {
            notReady = try balancer.admin("GET", "/readyz")
            return notReady.status == 503
        }
        #expect(notReady.bodyText.contains("publishing"), "\(notReady.bodyText)")
        #expect(!notReady.bodyText.contains("management"), "\(notReady.bodyText)")
        #expect(try balancer.status()["ready"] as? Bool == false)
        for backend in pub { #expect(try balancer.state(service: "publishing", backend: backend.name) == "down") }
        // The admin server itself is alive.
        #expect(try balancer.admin("GET", "/healthz").status == 200)

        for backend in pub { try backend.admin("/admin/recover") }
        try waitUntil("/readyz answers 200 again", timeout: .seconds(10)) {
            try balancer.admin("GET", "/readyz").status == 200
        }
    }
}
