import BasculeBackendService
import BasculePosix
import BasculeTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Strategies through the real proxy, where the load they react to is real connections.
@Suite("Strategies through the proxy", .serialized, .timeLimit(.minutes(2)))
struct StrategyTests {
    @Test(arguments: ["least-connections", "power-of-two"])
    func newConnectionsAvoidABackendHoldingManyLongConnections(strategy: String) throws {
        let (busy, busyPort) = try BackendProcess.start(name: "busy")
        defer { busy.terminate() }
        let (idle, idlePort) = try BackendProcess.start(name: "idle")
        defer { idle.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "publishing", "strategy": strategy, "healthCheck": ["type": "none"],
            "backends": [["name": "busy", "address": "127.0.0.1:\(busyPort)"],
                         ["name": "idle", "address": "127.0.0.1:\(idlePort)"]],
        ]], workers: 2)
        defer { balancer.process.terminate() }

        // Park 20 long-lived connections on "busy" while "idle" is out of rotation.
        let disable = try TestHTTPClient().request("POST", port: balancer.adminPort, path: "/services/publishing/backends/idle/disable")
        #expect(disable.status == 200)
        var parked: [HTTPClientConnection] = []
        for _ in 0..<20 {
            let connection = try TestHTTPClient().connect(port: balancer.port("publishing"))
            #expect(try connection.get("/whoami").bodyText == "busy\n")
            parked.append(connection)
        }
        defer { parked.forEach { $0.close() } }
        _ = try TestHTTPClient().request("POST", port: balancer.adminPort, path: "/services/publishing/backends/idle/enable")

        // Each new short connection sees busy=20, idle=0 (or 1 while it is open).
        var toIdle = 0
        for _ in 0..<40 {
            if try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").bodyText == "idle\n" { toIdle += 1 }
        }
        #expect(toIdle == 40, "\(strategy) sent \(40 - toIdle) of 40 new connections to the loaded backend")
    }

    @Test func leastConnectionsFollowsTheWeightsForSequentialShortConnections() throws {
        // Each connection is closed before the next opens, so every backend is idle at each pick:
        // the tie-break decides, and it must follow weights 1, 1, 2 (rotating ties gave a third each).
        var started: [(process: ManagedProcess, port: UInt16)] = []
        defer { started.forEach { $0.process.terminate() } }
        for name in ["a", "b", "c"] { started.append(try BackendProcess.start(name: name)) }
        let balancer = try BalancerProcess(services: [[
            "name": "publishing", "strategy": "least-connections", "healthCheck": ["type": "none"],
            "backends": zip(["a", "b", "c"], [1, 1, 2]).enumerated().map { i, backend in
                ["name": backend.0, "address": "127.0.0.1:\(started[i].1)", "weight": backend.1] as [String: Any]
            },
        ]], workers: 2)
        defer { balancer.process.terminate() }

        var counts: [String: Int] = [:]
        for _ in 0..<400 {
            let body = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").bodyText
            counts[body.trimmingCharacters(in: .whitespacesAndNewlines), default: 0] += 1
        }
        print("least-connections, weights 1,1,2, 400 sequential connections: \(counts.sorted { $0.key < $1.key })")
        // 25 / 25 / 50 %, each within 10 points.
        #expect(abs(counts["a", default: 0] - 100) <= 40, "\(counts)")
        #expect(abs(counts["b", default: 0] - 100) <= 40, "\(counts)")
        #expect(abs(counts["c", default: 0] - 200) <= 40, "\(counts)")
    }

    @Test(arguments: ["round-robin", "least-connections"])
    func retriesFromADeadBackendSpreadOverTheSurvivors(strategy: String) throws {
        // One of four backends has nothing listening and no check notices: every connection sent
        // there is refused and retried. Retries used to go to the next backend in file order,
        // doubling its share; now each survivor takes about a third of all connections.
        var started: [(process: ManagedProcess, port: UInt16)] = []
        defer { started.forEach { $0.process.terminate() } }
        for name in ["s1", "s2", "s3"] { started.append(try BackendProcess.start(name: name)) }
        let deadPort = try freeLoopbackPort()
        let balancer = try BalancerProcess(services: [[
            "name": "publishing", "strategy": strategy, "healthCheck": ["type": "none"], "retries": 3,
            "backends": [["name": "dead", "address": "127.0.0.1:\(deadPort)"]]
                + started.enumerated().map { i, backend in ["name": "s\(i + 1)", "address": "127.0.0.1:\(backend.1)"] },
        ]], workers: 2)
        defer { balancer.process.terminate() }

        var counts: [String: Int] = [:]
        for _ in 0..<400 {
            let body = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").bodyText
            counts[body.trimmingCharacters(in: .whitespacesAndNewlines), default: 0] += 1
        }
        let refused = try balancer.metric("bascule_backend_connect_errors_total", ["service": "publishing", "backend": "dead"])
        print("\(strategy), 1 dead of 4, 400 connections: \(Int(refused)) retried; survivors \(counts.sorted { $0.key < $1.key })")
        #expect(refused >= 40, "the dead backend was hardly tried: \(refused)")
        #expect(counts.values.reduce(0, +) == 400)
        for survivor in ["s1", "s2", "s3"] {
            #expect(abs(counts[survivor, default: 0] - 133) <= 25, "\(counts)")
        }
    }

    @Test func sourceHashKeepsAClientOnOneBackendAndBackupTakesOverOnlyWhenThePrimaryIsGone() throws {
        let (primary, primaryPort) = try BackendProcess.start(name: "mgmt1", role: .management)
        defer { primary.terminate() }
        let (backup, backupPort) = try BackendProcess.start(name: "mgmt2", role: .management)
        defer { backup.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "management", "strategy": "source-hash",
            "healthCheck": ["type": "tcp", "intervalMs": 200, "timeoutMs": 150, "rise": 2, "fall": 2],
            "backends": [["name": "mgmt1", "address": "127.0.0.1:\(primaryPort)"],
                         ["name": "mgmt2", "address": "127.0.0.1:\(backupPort)", "backup": true]],
        ]])
        defer { balancer.process.terminate() }
        for _ in 0..<10 {
            #expect(try TestHTTPClient().get(port: balancer.port("management"), path: "/whoami").bodyText == "mgmt1\n")
        }
        primary.signal(SIGKILL)
        _ = primary.waitForExit()
        // With retries the client never notices; once detected, the backup serves directly.
        for _ in 0..<10 {
            #expect(try TestHTTPClient().get(port: balancer.port("management"), path: "/whoami").bodyText == "mgmt2\n")
        }
        try waitUntil("mgmt1 to be marked down", timeout: .seconds(5)) {
            try balancer.state(service: "management", backend: "mgmt1") == "down"
        }
    }
}

/// Reloading the configuration while traffic flows.
@Suite("Reload", .serialized, .timeLimit(.minutes(3)))
struct ReloadTests {
    @Test func twentyReloadsAddingAndRemovingABackendUnderLoadFailNoRequest() throws {
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let (b, portB) = try BackendProcess.start(name: "b")
        defer { b.terminate() }
        func services(withB: Bool) -> [[String: Any]] {
            var backends: [[String: Any]] = [["name": "a", "address": "127.0.0.1:\(portA)"]]
            if withB { backends.append(["name": "b", "address": "127.0.0.1:\(portB)"]) }
            return [["name": "publishing", "strategy": "round-robin", "healthCheck": ["type": "none"], "backends": backends]]
        }
        let balancer = try BalancerProcess(services: services(withB: false), workers: 2)
        defer { balancer.process.terminate() }
        let port = balancer.port("publishing")

        let stop = Atomic<Bool>(false)
        let counts = Mutex<(ok: Int, failed: Int, servedByB: Int)>((0, 0, 0))
        let finished = Atomic<Int>(0)
        for _ in 0..<2 {
            try WorkerThread.detach(name: "test") {
                while !stop.load(ordering: .relaxed) {
                    let response = try? TestHTTPClient(timeout: .seconds(5)).get(port: port, path: "/whoami")
                    counts.withLock {
                        if response?.status == 200 { $0.ok += 1 } else { $0.failed += 1 }
                        if response?.bodyText == "b\n" { $0.servedByB += 1 }
                    }
                }
                finished.add(1, ordering: .relaxed)
            }
        }
        for round in 0..<20 {
            try balancer.rewrite(services: services(withB: round % 2 == 0), workers: 2)
            let reloadsBefore = try balancer.metric("bascule_config_reloads_total")
            balancer.process.signal(SIGHUP)
            try waitUntil("reload \(round + 1) to be applied") {
                try balancer.metric("bascule_config_reloads_total") > reloadsBefore
            }
            sleep(for: .milliseconds(50))  // let traffic run on this configuration (pacing, not readiness)
        }
        stop.store(true, ordering: .relaxed)
        try waitUntil("the client threads to finish") { finished.load(ordering: .relaxed) == 2 }
        let result = counts.withLock { $0 }
        #expect(result.failed == 0, "\(result.failed) failed of \(result.ok + result.failed) requests")
        #expect(result.ok > 100)
        #expect(result.servedByB > 0, "b was never used although half the reloads added it")
        #expect(try balancer.metric("bascule_config_reloads_total") == 20)
    }
}
