import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Accounting under failure: every system call of a connection's life is made to fail, and
/// every place taken (on a backend, under a limit) must be given back exactly once.
extension HardeningTests {
    /// Sets the balancer's soft descriptor limit (the hard one stays, so it can be raised again).
    private func setDescriptorLimit(_ pid: pid_t, _ soft: Int) throws {
        _ = try CommandRun.succeeding("/usr/bin/prlimit", ["--pid", "\(pid)", "--nofile=\(soft):"])
    }

    private func openDescriptors(_ pid: pid_t) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }

    /// Clients opened at once from `source`, each sending a line; returns those whose line came back.
    private func openClients(_ port: UInt16, count: Int, source: String, proxyHeader: Bool = false) -> [TCPClient] {
        var opened: [TCPClient] = []
        for index in 0..<count {
            guard let client = try? TCPClient(port: port, timeout: .seconds(3), source: source) else { continue }
            let header = proxyHeader ? "PROXY TCP4 198.51.100.\(index + 1) 203.0.113.1 4000 80\r\n" : ""
            _ = try? client.sendAll(header + "line \(index)\n")
            opened.append(client)
        }
        return opened.filter { ((try? $0.read(maxBytes: 64)) ?? []).starts(with: Array("line".utf8)) }
    }

    /// Every active gauge, in /metrics and in /status, back at exactly zero.
    private func expectEveryGaugeAtZero(_ balancer: BalancerProcess, _ what: String) throws {
        var last = ""
        do {
            try waitUntil("every active gauge back at zero after \(what)", timeout: .seconds(15)) {
                let metrics = try balancer.metrics()
                let gauges = metrics.split(separator: "\n").filter {
                    $0.hasPrefix("bascule_backend_active_connections{") || $0.hasPrefix("bascule_service_active_connections{")
                }
                last = gauges.joined(separator: "\n")
                guard !gauges.isEmpty, gauges.allSatisfy({ $0.hasSuffix(" 0") }) else { return false }
                let services = try balancer.status()["services"] as? [[String: Any]] ?? []
                let active = services.flatMap { $0["backends"] as? [[String: Any]] ?? [] }.map { $0["activeConnections"] as? Int }
                last += "\n/status: \(active)"
                return !active.isEmpty && active.allSatisfy { $0 == 0 }
            }
        } catch {
            Issue.record("\(error)\n\(last)")
            throw error
        }
    }

    /// The limits still count exactly: `perClient` places for one client, `service` in all.
    private func expectLimitsExact(_ balancer: BalancerProcess, _ service: String, perClient: Int, total: Int,
                                   proxyHeader: Bool = false, sources: [String]) {
        var held: [TCPClient] = []
        defer { held.forEach { $0.close() } }
        for source in sources where held.count < total {
            let wanted = min(perClient, total - held.count)
            let served = openClients(balancer.port(service), count: wanted + (source == sources[0] ? 1 : 0),
                                     source: source, proxyHeader: proxyHeader)
            #expect(served.count == wanted, "\(service): \(source) held \(served.count) of \(wanted) places")
            held += served
        }
        #expect(openClients(balancer.port(service), count: 1, source: sources.last!, proxyHeader: proxyHeader).isEmpty,
                "\(service): a connection past maxConnections \(total) was let in")
    }

    @Test func everyPlaceTakenIsGivenBackWhicheverSystemCallFails() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let deadPort = try freeLoopbackPort()
        let balancer = try BalancerProcess(services: [
            ["name": "echo", "strategy": "round-robin", "retries": 1, "healthCheck": ["type": "none"],
             "maxConnections": 8, "maxConnectionsPerClient": 4,
             "backends": [["name": "echo1", "address": "127.0.0.1:\(echoPort)"],
                          ["name": "dead", "address": "127.0.0.1:\(deadPort)"]]],
            echoService(echoPort, ["name": "proxied", "acceptProxyProtocol": true, "maxConnections": 3]),
        ], workers: 2)
        defer { balancer.process.terminate() }
        let pid = balancer.process.pid
        let port = balancer.port("echo")
        // Warm up: each worker's pipes and buffers exist before the descriptors are counted.
        _ = openClients(port, count: 4, source: "127.0.0.9").map { $0.close() }
        try expectEveryGaugeAtZero(balancer, "warm-up")

        // socket() and accept() fail: a few descriptors spare, so clients are accepted but
        // their backend socket (or a retry's, after the dead backend refused) cannot be made.
        let base = try openDescriptors(pid)
        try setDescriptorLimit(pid, base + 5)
        var served = 0
        for source in ["127.0.0.2", "127.0.0.3"] {
            let clients = openClients(port, count: 4, source: source)
            served += clients.count
            clients.forEach { $0.setResetOnClose(); $0.close() }
        }
        #expect(served < 8, "the descriptor limit should have refused some connections")
        try setDescriptorLimit(pid, 4096)
        try expectEveryGaugeAtZero(balancer, "socket() failures")
        #expect(try balancer.metric("bascule_backend_active_connections", ["backend": "echo1"]) == 0)

        // send()/splice() against a peer that resets mid-stream, with pipes short of descriptors.
        try setDescriptorLimit(pid, try openDescriptors(pid) + 6)
        let bulk = [UInt8](repeating: 0x61, count: 2 << 20)
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            guard let client = try? TCPClient(port: port, timeout: .seconds(3), source: "127.0.0.4") else { return }
            _ = try? client.sendAll(bulk)
            client.setResetOnClose()
            client.close()
        }
        try setDescriptorLimit(pid, 4096)
        try expectEveryGaugeAtZero(balancer, "peer resets while relaying")

        // PROXY header failures: garbage, half a header, a reset before any byte.
        for attempt in 0..<6 {
            guard let client = try? TCPClient(port: balancer.port("proxied"), timeout: .seconds(3)) else { continue }
            switch attempt % 3 {
            case 0: _ = try? client.sendAll("GARBAGE\r\n")
            case 1: _ = try? client.sendAll("PROXY TCP4 198.51")
            default: client.setResetOnClose()
            }
            client.close()
        }

        let proxiedPort = balancer.port("proxied")
        // Under concurrent load, every failure at once: refused backends with retries, resets,
        // bad headers, limits refusing.
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for round in 0..<15 {
                let source = "127.0.\(worker + 1).\(round % 5 + 10)"
                if round % 3 == 0, let client = try? TCPClient(port: proxiedPort, timeout: .seconds(3)) {
                    _ = try? client.sendAll(round % 2 == 0 ? "PROXY bogus\r\n" : "PROXY TCP4 198.51.100.7 203.0.113.1 1 2\r\nx\n")
                    client.setResetOnClose()
                    client.close()
                    continue
                }
                let clients = openClients(port, count: 3, source: source)
                clients.forEach { if round % 2 == 0 { $0.setResetOnClose() }; $0.close() }
            }
        }
        try expectEveryGaugeAtZero(balancer, "concurrent failures")

        // And the limits still hold exactly: nothing leaked in either direction.
        expectLimitsExact(balancer, "echo", perClient: 4, total: 8, sources: ["127.0.0.20", "127.0.0.21", "127.0.0.22"])
        expectLimitsExact(balancer, "proxied", perClient: 3, total: 3, proxyHeader: true, sources: ["127.0.0.30"])
        try expectEveryGaugeAtZero(balancer, "the limit checks")
    }
}
