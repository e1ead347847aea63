import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Trust only where it is given: PROXY headers from the listed upstreams only, and a
/// per-client limit a client cannot aim at someone else.
extension HardeningTests {
    /// True when a new connection from `source`, sending `header` then a line, gets the line back.
    private func echoed(_ port: UInt16, from source: String, header: String = "") -> Bool {
        guard let client = try? TCPClient(port: port, timeout: .seconds(5), source: source) else { return false }
        defer { client.close() }
        guard (try? client.sendAll(header + "ping\n")) != nil else { return false }
        return ((try? client.read(maxBytes: 16)) ?? []) == Array("ping\n".utf8)
    }

    @Test func aProxyHeaderIsBelievedOnlyFromATrustedProxy() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [
            echoService(echoPort, ["acceptProxyProtocol": true, "trustedProxies": ["127.0.0.2/32"],
                                   "deny": ["198.51.100.66/32"]]),
        ])
        defer { balancer.process.terminate() }
        let port = balancer.port("echo")
        let header = "PROXY TCP4 198.51.100.7 203.0.113.1 40000 80\r\n"
        #expect(echoed(port, from: "127.0.0.2", header: header), "the trusted upstream is served")
        // Anyone else is refused at accept, header or not: its header would let it pick the
        // address that allow/deny and the per-client limit judge.
        #expect(!echoed(port, from: "127.0.0.3", header: header))
        #expect(!echoed(port, from: "127.0.0.3", header: "PROXY TCP4 198.51.100.66 203.0.113.1 40000 80\r\n"))
        try waitUntil("the untrusted peers to be counted as such") {
            try balancer.metric("bascule_service_untrusted_proxy_connections_total") == 2
        }
        #expect(try balancer.metric("bascule_service_connections_denied_total") == 0, "no client was denied by allow/deny")
        let services = try balancer.status()["services"] as? [[String: Any]] ?? []
        #expect(services.first?["untrustedProxies"] as? Int == 2)
        // The trusted upstream's headers are still judged: deny applies to the client it names.
        #expect(!echoed(port, from: "127.0.0.2", header: "PROXY TCP4 198.51.100.66 203.0.113.1 40000 80\r\n"))
    }

    /// With the public, unkeyed hash, 127.0.217.178 shared both count-min slots with
    /// 127.0.145.87 (found by a birthday search over 127/8), so holding one connection from
    /// it locked the other out at maxConnectionsPerClient 1. Keyed per process, they are
    /// strangers (a chance of 2^-32 that a given pair still collides).
    @Test func aClientCannotAimThePerClientLimitAtSomeoneElse() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [echoService(echoPort, ["maxConnectionsPerClient": 1])])
        defer { balancer.process.terminate() }
        let port = balancer.port("echo")
        let attacker = try TCPClient(port: port, source: "127.0.217.178")
        defer { attacker.close() }
        try attacker.sendAll("held\n")
        #expect(try attacker.read(maxBytes: 8) == Array("held\n".utf8))
        #expect(echoed(port, from: "127.0.145.87"), "the victim was locked out by a colliding address")
        // The limit itself still holds for the attacker's own address.
        #expect(!echoed(port, from: "127.0.217.178"))
    }
}
