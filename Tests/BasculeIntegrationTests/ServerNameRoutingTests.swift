import BasculeBackendService
import BasculeTestSupport
import Foundation
import Testing

/// Three HTTPS backends, each with its own certificate, behind one balancer address that
/// routes by the name in the TLS ClientHello (passthrough: the balancer never decrypts; the
/// certificate a client receives proves which backend it reached).
@Suite(.serialized) struct ServerNameRoutingTests {
    final class Setup {
        let certificates: TLSCertificates
        let backends: [(process: ManagedProcess, port: UInt16)]
        let balancer: BalancerProcess
        let port: UInt16

        /// `withDefault`: a third service without serverNames takes everything else.
        /// `proxy`: the address accepts a PROXY header from an upstream before the ClientHello,
        /// and every service sends one to its backends (which expect it before their TLS).
        init(withDefault: Bool, timeoutMs: Int = 5000, proxy: Bool = false, wwwExtra: [String: Any] = [:],
             top: [String: Any] = [:]) throws {
            certificates = try TLSCertificates()
            var backends: [(process: ManagedProcess, port: UInt16)] = []
            for (name, host) in [("www-1", "www.example.com"), ("api-1", "api.example.com"), ("default-1", "default.example.com")] {
                backends.append(try BackendProcess.start(name: name, extraArguments: try certificates.backendArguments(for: host)
                                                            + (proxy ? ["--accept-proxy"] : [])))
            }
            self.backends = backends
            port = try freeLoopbackPort()
            let listen = "127.0.0.1:\(port)"
            var services: [[String: Any]] = [
                ["name": "www", "listen": listen, "serverNames": ["www.example.com"],
                 "backends": [["name": "www-1", "address": "127.0.0.1:\(backends[0].port)"]]],
                ["name": "api", "listen": listen, "serverNames": ["api.example.com", "*.api.example.com"],
                 "backends": [["name": "api-1", "address": "127.0.0.1:\(backends[1].port)"]]],
            ]
            if withDefault {
                services.append(["name": "fallback", "listen": listen,
                                 "backends": [["name": "default-1", "address": "127.0.0.1:\(backends[2].port)"]]])
            }
            services[0].merge(wwwExtra) { $1 }
            if proxy {
                for index in services.indices {
                    services[index]["acceptProxyProtocol"] = true
                    services[index]["proxyProtocol"] = "v1"
                }
            }
            balancer = try BalancerProcess(services: services,
                                           extraTopLevel: ["clientHello": ["timeoutMs": timeoutMs]].merging(top) { $1 })
        }

        func stop() {
            balancer.process.terminate()
            for backend in backends { backend.process.terminate() }
        }
    }

    @Test func eachNameReachesItsOwnBackendAndTheRestGoToTheDefault() throws {
        let setup = try Setup(withDefault: true)
        defer { setup.stop() }
        for (name, subject, backend) in [("www.example.com", "www.example.com", "www-1"),
                                         ("api.example.com", "api.example.com", "api-1"),
                                         ("v2.api.example.com", "api.example.com", "api-1"),
                                         ("unknown.example.org", "default.example.com", "default-1")] {
            let probe = try TLSProbe.run(port: setup.port, serverName: name)
            #expect(probe.subject == subject, "\(name)")
            #expect(probe.backend == backend, "\(name)")
        }
        let noName = try TLSProbe.run(port: setup.port, serverName: nil)
        #expect(noName.subject == "default.example.com")
        // curl checks the certificate against the name it asked for: the route is the right one.
        let (certificate, _) = try setup.certificates.files(for: "api.example.com")
        let curl = try CommandRun.succeeding("/usr/bin/curl", [
            "-sS", "-i", "--max-time", "10", "--cacert", certificate,
            "--resolve", "api.example.com:\(setup.port):127.0.0.1", "https://api.example.com:\(setup.port)/whoami",
        ])
        #expect(curl.stdout.contains { $0.hasPrefix("X-Backend: api-1") })
        #expect(try setup.balancer.metric("bascule_route_connections_total", ["route": "www.example.com", "service": "www"]) == 1)
        #expect(try setup.balancer.metric("bascule_route_connections_total", ["route": "*.api.example.com"]) == 1)
        #expect(try setup.balancer.metric("bascule_route_connections_total", ["route": "default"]) == 2)
    }

    @Test func withoutADefaultUnknownNamesAndNoNameAreRefusedAndCounted() throws {
        let setup = try Setup(withDefault: false)
        defer { setup.stop() }
        #expect(try TLSProbe.run(port: setup.port, serverName: "unknown.example.org").subject == nil)
        #expect(try TLSProbe.run(port: setup.port, serverName: nil).subject == nil)
        #expect(try TLSProbe.run(port: setup.port, serverName: "www.example.com").backend == "www-1")
        #expect(try setup.balancer.metric("bascule_route_connections_total", ["route": "refused"]) == 2)
    }

    @Test func aPlainHTTPClientIsRefusedAtOnceAndASilentOneAtTheDeadline() throws {
        let setup = try Setup(withDefault: true, timeoutMs: 1000)
        defer { setup.stop() }
        let plain = try TCPClient(port: setup.port, timeout: .seconds(5))
        let start = ContinuousClock.now
        try plain.sendAll("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
        #expect((try? plain.readToEOF()) ?? [] == [], "nothing is answered")
        #expect(ContinuousClock.now - start < .milliseconds(900), "refused at its first byte, not at the deadline")

        let silent = try TCPClient(port: setup.port, timeout: .seconds(5))
        let silentStart = ContinuousClock.now
        #expect((try? silent.readToEOF()) ?? [] == [])
        let waited = ContinuousClock.now - silentStart
        #expect(waited >= .milliseconds(900) && waited < .seconds(4), "closed at the 1 s deadline, waited \(waited)")
        #expect(try setup.balancer.metric("bascule_route_client_hello_rejected_total", ["reason": "not_tls"]) == 1)
        #expect(try setup.balancer.metric("bascule_route_client_hello_rejected_total", ["reason": "timeout"]) == 1)
    }

    @Test func afterRoutingTheServiceAppliesItsOwnRulesAndPROXYWorksBothWays() throws {
        let directory = NSTemporaryDirectory() + "bascule-sni-log-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let setup = try Setup(withDefault: true, proxy: true, wwwExtra: ["deny": ["127.0.0.0/8"]],
                              top: ["accessLog": directory + "/access.log"])
        defer { setup.stop() }
        func curl(_ name: String) throws -> CommandRun {
            try CommandRun.run("/usr/bin/curl", [
                "-sS", "-i", "-k", "--max-time", "10", "--haproxy-protocol",
                "--resolve", "\(name):\(setup.port):127.0.0.1", "https://\(name):\(setup.port)/whoami",
            ])
        }
        // The PROXY header from "upstream" (curl) is read before the ClientHello; api's backend
        // gets a PROXY header of its own naming the client, then the client's TLS bytes.
        let api = try curl("api.example.com")
        #expect(api.stdout.contains { $0.hasPrefix("X-Backend: api-1") }, "\(api.output)")
        #expect(api.stdout.contains { $0.hasPrefix("X-Client-Address: 127.0.0.1:") })
        // www denies loopback clients: routed there, the connection is refused by www's own rule.
        let www = try curl("www.example.com")
        #expect(www.status != 0 && !www.stdout.contains { $0.hasPrefix("X-Backend") })
        #expect(try setup.balancer.metric("bascule_service_connections_denied_total", ["service": "www"]) == 1)
        setup.balancer.process.terminate()
        let log = try String(contentsOfFile: directory + "/access.log", encoding: .utf8)
        let lines = log.split(separator: "\n")
        #expect(lines.contains { $0.contains(#""service":"api""#) && $0.contains(#""route":"api.example.com""#) }, "\(log)")
        #expect(lines.contains { $0.contains(#""service":"www""#) && $0.contains(#""route":"www.example.com""#)
                                 && $0.contains(#""termination":"PR""#) }, "\(log)")
    }

    @Test(arguments: [ReframingRelay.Delivery.oneByteAtATime, .twoRecords])
    func aClientHelloArrivingTheHardWayRoutesByItsName(delivery: ReframingRelay.Delivery) throws {
        let setup = try Setup(withDefault: true)
        defer { setup.stop() }
        let relay = try ReframingRelay(to: setup.port, delivery: delivery)
        let probe = try TLSProbe.run(port: relay.port, serverName: "api.example.com", timeout: .seconds(20))
        #expect(probe.subject == "api.example.com")
        #expect(probe.backend == "api-1")
    }
}
