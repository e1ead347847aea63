import BasculeBackendService
import BasculePosix
import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every refusal path (access lists, connection limits) and the PROXY protocol in both
/// directions, the latter against a real HAProxy as the independent peer.
@Suite("Hardening", .serialized, .timeLimit(.minutes(3)))
struct HardeningTests {
    func echoService(_ echoPort: UInt16, _ extra: [String: Any] = [:], backendExtra: [String: Any] = [:]) -> [String: Any] {
        var backend: [String: Any] = ["name": "echo1", "address": "127.0.0.1:\(echoPort)"]
        for (key, value) in backendExtra { backend[key] = value }
        var service: [String: Any] = ["name": "echo", "healthCheck": ["type": "none"], "backends": [backend]]
        for (key, value) in extra { service[key] = value }
        return service
    }

    /// True when a round trip through a new connection from `source` works.
    private func served(_ port: UInt16, from source: String = "127.0.0.1") -> Bool {
        guard let client = try? TCPClient(port: port, timeout: .seconds(10), source: source) else { return false }
        defer { client.close() }
        guard (try? client.sendAll("ping\n")) != nil else { return false }
        return ((try? client.read(maxBytes: 16)) ?? []) == Array("ping\n".utf8)
    }

    /// True when the balancer closes (or resets) a new connection from `source` without
    /// relaying it — a refusal, as opposed to a slow answer on a loaded machine.
    private func refused(_ port: UInt16, from source: String = "127.0.0.1") -> Bool {
        guard let client = try? TCPClient(port: port, timeout: .seconds(10), source: source) else { return true }
        defer { client.close() }
        _ = try? client.sendAll("ping\n")
        do {
            return try client.read(maxBytes: 16).isEmpty
        } catch let error as SystemError {
            return !error.isTimeout
        } catch {
            return true
        }
    }

    @Test func allowAndDenyListsAreCheckedAtAcceptAndCounted() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [
            echoService(echoPort, ["allow": ["127.0.0.0/8"], "deny": ["127.0.0.66/32"]]),
        ])
        defer { balancer.process.terminate() }
        #expect(served(balancer.port("echo"), from: "127.0.0.1"))
        #expect(served(balancer.port("echo"), from: "127.0.0.2"))
        #expect(refused(balancer.port("echo"), from: "127.0.0.66"), "deny must win over allow")
        try waitUntil("the denial to be counted") {
            try balancer.metric("bascule_service_connections_denied_total") == 1
        }
    }

    @Test func serviceAndPerClientLimitsRefuseTheExtraConnectionAndRecover() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [
            echoService(echoPort, ["maxConnections": 3, "maxConnectionsPerClient": 2]),
        ], workers: 2)
        defer { balancer.process.terminate() }
        let port = balancer.port("echo")

        // Per client: 127.0.0.1 may hold 2; its third is refused while 127.0.0.3 still gets in.
        var held: [TCPClient] = []
        for _ in 0..<2 {
            let client = try TCPClient(port: port, source: "127.0.0.1")
            try client.sendAll("x\n")
            #expect(try client.read(maxBytes: 8) == Array("x\n".utf8))
            held.append(client)
        }
        #expect(refused(port, from: "127.0.0.1"))
        let other = try TCPClient(port: port, source: "127.0.0.3")
        try other.sendAll("y\n")
        #expect(try other.read(maxBytes: 8) == Array("y\n".utf8))
        held.append(other)
        // Service: 3 held, so a fourth client from anywhere is refused.
        #expect(refused(port, from: "127.0.0.4"))
        try waitUntil("both refusals to be counted") {
            try balancer.metric("bascule_service_connections_refused_total") >= 2
        }
        // Closing one makes room again.
        held.removeFirst().close()
        try waitUntil("a place to free up") { served(port, from: "127.0.0.4") }
        held.forEach { $0.close() }
    }

    @Test func aBackendAtItsOwnLimitIsSkipped() throws {
        let (full, fullPort) = try BackendProcess.start(name: "full", mode: .echo)
        defer { full.terminate() }
        let (spare, sparePort) = try BackendProcess.start(name: "spare", mode: .echo)
        defer { spare.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "echo", "strategy": "round-robin", "healthCheck": ["type": "none"],
            "backends": [["name": "full", "address": "127.0.0.1:\(fullPort)", "maxConnections": 1],
                         ["name": "spare", "address": "127.0.0.1:\(sparePort)"]],
        ]])
        defer { balancer.process.terminate() }
        var held: [TCPClient] = []
        for _ in 0..<6 {
            let client = try TCPClient(port: balancer.port("echo"))
            try client.sendAll("z\n")
            #expect(try client.read(maxBytes: 8) == Array("z\n".utf8))
            held.append(client)
        }
        #expect(try balancer.metric("bascule_backend_active_connections", ["backend": "full"]) == 1)
        #expect(try balancer.metric("bascule_backend_active_connections", ["backend": "spare"]) == 5)
        held.forEach { $0.close() }
    }

    @Test func theProcessWideLimitRefusesBeyondIt() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [echoService(echoPort)], extraTopLevel: ["maxConnections": 2])
        defer { balancer.process.terminate() }
        let first = try TCPClient(port: balancer.port("echo"))
        try first.sendAll("1\n")
        _ = try first.read(maxBytes: 8)
        let second = try TCPClient(port: balancer.port("echo"))
        try second.sendAll("2\n")
        _ = try second.read(maxBytes: 8)
        #expect(refused(balancer.port("echo")))
        first.close()
        second.close()
        try waitUntil("room after closing") { served(balancer.port("echo")) }
    }

    @Test func ipv6ListenersBackendsAndRulesWork() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo6", mode: .echo, host: "::1")
        defer { echo.terminate() }
        let listen = try freeLoopbackPort()
        let balancer = try BalancerProcess(services: [[
            "name": "echo6", "listen": "[::1]:\(listen)", "healthCheck": ["type": "tcp", "intervalMs": 200, "timeoutMs": 150],
            "allow": ["::1/128"],
            "backends": [["name": "echo6", "address": "[::1]:\(echoPort)"]],
        ]])
        defer { balancer.process.terminate() }
        let client = try TCPClient(host: "::1", port: listen)
        try client.sendAll("six\n")
        #expect(try client.read(maxBytes: 8) == Array("six\n".utf8))
    }

    // MARK: PROXY protocol

    /// A HAProxy that accepts the PROXY protocol and answers each HTTP request with the
    /// client address it was given: an independent receiver for what Bascule sends.
    private func haproxyReportingSource(port: UInt16, dir: String) throws -> ManagedProcess? {
        let candidates: [String] = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        guard let haproxy = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("skipping PROXY protocol interop: haproxy is not installed (.ci/run installs it)")
            return nil
        }
        let config = """
            global
              maxconn 200
            defaults
              mode http
              timeout connect 2s
              timeout client 10s
              timeout server 10s
            frontend reporter
              bind 127.0.0.1:\(port) accept-proxy
              http-request return status 200 content-type text/plain lf-string "%[src]"
            """
        let path = dir + "/haproxy-\(port).cfg"
        try (config + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let process = try ManagedProcess(executable: haproxy, arguments: ["-db", "-f", path])
        do {
            try waitUntil("haproxy to listen on \(port)") { (try? TCPClient(port: port, timeout: .seconds(1))) != nil }
        } catch {
            throw ManagedProcess.Failure(description: "\(error)\n\(process.recentOutput())")
        }
        return process
    }

    @Test(arguments: ["v1", "v2"])
    func theClientAddressSentWithTheProxyProtocolIsAcceptedByHAProxy(version: String) throws {
        let haproxyPort = try freeLoopbackPort()
        let dir = NSTemporaryDirectory()
        guard let haproxy = try haproxyReportingSource(port: haproxyPort, dir: dir) else { return }
        defer { haproxy.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "web", "healthCheck": ["type": "none"], "proxyProtocol": version,
            "backends": [["name": "haproxy", "address": "127.0.0.1:\(haproxyPort)"]],
        ]])
        defer { balancer.process.terminate() }
        let client = try TCPClient(port: balancer.port("web"), source: "127.0.0.9")
        try client.sendAll("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        let answer = String(decoding: try client.readToEOF(), as: UTF8.self)
        #expect(answer.hasSuffix("127.0.0.9"), "HAProxy saw: \(answer)")
    }

    @Test func aHeaderSentByHAProxyIsAcceptedAndPassedOn() throws {
        // client → HAProxy (send-proxy-v2) → Bascule (acceptProxyProtocol, sends v1) → HAProxy (reports source)
        let reporterPort = try freeLoopbackPort(), frontPort = try freeLoopbackPort()
        let dir = NSTemporaryDirectory()
        guard let reporter = try haproxyReportingSource(port: reporterPort, dir: dir) else { return }
        defer { reporter.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "web", "healthCheck": ["type": "none"], "acceptProxyProtocol": true, "proxyProtocol": "v1",
            "backends": [["name": "reporter", "address": "127.0.0.1:\(reporterPort)"]],
        ]])
        defer { balancer.process.terminate() }
        let front = """
            global
              maxconn 200
            defaults
              mode tcp
              timeout connect 2s
              timeout client 10s
              timeout server 10s
            listen front
              bind 127.0.0.1:\(frontPort)
              server bascule 127.0.0.1:\(balancer.port("web")) send-proxy-v2
            """
        let path = dir + "/haproxy-front-\(frontPort).cfg"
        try (front + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let haproxy = try ManagedProcess(executable: reporter.executable, arguments: ["-db", "-f", path])
        defer { haproxy.terminate() }
        try waitUntil("the front haproxy to listen") { (try? TCPClient(port: frontPort, timeout: .seconds(1))) != nil }

        let client = try TCPClient(port: frontPort, source: "127.0.0.7")
        try client.sendAll("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        let answer = String(decoding: try client.readToEOF(), as: UTF8.self)
        #expect(answer.hasSuffix("127.0.0.7"), "the reporter saw: \(answer)")
    }

    @Test func behindAnUpstreamBalancerTheRulesApplyToTheClientItsHeaderNames() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [
            echoService(echoPort, ["acceptProxyProtocol": true, "maxConnectionsPerClient": 1, "deny": ["192.0.2.66/32"]]),
        ])
        defer { balancer.process.terminate() }
        let port = balancer.port("echo")
        // Every connection comes from 127.0.0.1 (the "upstream balancer"); the headers differ.
        func connect(as source: String) throws -> TCPClient {
            let client = try TCPClient(port: port, timeout: .seconds(10))
            try client.sendAll("PROXY TCP4 \(source) 127.0.0.1 5555 80\r\nhi\n")
            return client
        }
        let first = try connect(as: "192.0.2.1")
        #expect(try first.read(maxBytes: 8) == Array("hi\n".utf8))
        let second = try connect(as: "192.0.2.1")
        #expect(((try? second.readToEOF()) ?? []).isEmpty, "a second connection for the same client must be refused")
        let other = try connect(as: "192.0.2.2")
        #expect(try other.read(maxBytes: 8) == Array("hi\n".utf8))
        let denied = try connect(as: "192.0.2.66")
        #expect(((try? denied.readToEOF()) ?? []).isEmpty, "deny applies to the client the header names")
        try waitUntil("the refusal and the denial to be counted") {
            try balancer.metric("bascule_service_connections_refused_total") == 1
                && balancer.metric("bascule_service_connections_denied_total") == 1
        }
        // The place is given back when the client's connection ends.
        first.close()
        try waitUntil("the client's place to free up") {
            guard let again = try? connect(as: "192.0.2.1") else { return false }
            defer { again.close() }
            return ((try? again.read(maxBytes: 8)) ?? []) == Array("hi\n".utf8)
        }
        other.close()
    }

    @Test func malformedTruncatedAndLateHeadersAreRejectedAndCounted() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [
            echoService(echoPort, ["acceptProxyProtocol": true, "connectTimeoutMs": 400]),
        ])
        defer { balancer.process.terminate() }
        let port = balancer.port("echo")

        // Malformed: closed at once, never passed on.
        let bad = try TCPClient(port: port)
        try bad.sendAll("PROXY TCP4 300.1.2.3 127.0.0.1 1 2\r\nhello\n")
        #expect(((try? bad.readToEOF()) ?? []).isEmpty)
        // Truncated and then silent: closed by the header timeout.
        let truncated = try TCPClient(port: port, timeout: .seconds(5))
        try truncated.sendAll("PROXY TCP4 127.0.0.1 127.0.0.1 1")
        #expect(((try? truncated.readToEOF()) ?? []).isEmpty)
        // A good one passes, with the data behind the header.
        let good = try TCPClient(port: port)
        try good.sendAll("PROXY TCP4 192.0.2.1 127.0.0.1 5555 80\r\nhello\n")
        #expect(try good.read(maxBytes: 16) == Array("hello\n".utf8))
        try waitUntil("both rejections to be counted") {
            try balancer.metric("bascule_service_proxy_headers_rejected_total") == 2
        }
    }
}

/// The PROXY header Bascule sends, as bascule-backend (`--accept-proxy`) reports it.
@Suite("PROXY protocol to bascule-backend", .serialized, .timeLimit(.minutes(2)))
struct ProxyProtocolToBackendTests {
    @Test(arguments: ["v1", "v2"])
    func theBackendReportsTheClientAddressTheBalancerSent(version: String) throws {
        let backendPort = try freeLoopbackPort()
        let backend = try ManagedProcess(executable: try TestBinaries.backend(), arguments: [
            "--listen", "127.0.0.1:\(backendPort)", "--name", "pp", "--accept-proxy"])
        defer { backend.terminate() }
        try backend.waitForLine(containing: "listening on")
        let balancer = try BalancerProcess(services: [[
            "name": "web", "healthCheck": ["type": "none"], "proxyProtocol": version,
            "backends": [["name": "pp", "address": "127.0.0.1:\(backendPort)"]],
        ]])
        defer { balancer.process.terminate() }
        let client = try TCPClient(port: balancer.port("web"), source: "127.0.0.9")
        try client.sendAll("GET /whoami HTTP/1.0\r\n\r\n")
        let response = String(decoding: try client.readToEOF(), as: UTF8.self)
        #expect(response.contains("X-Client-Address: 127.0.0.9:"), "\(response)")
        #expect(response.hasSuffix("pp\n"))
    }
}
