import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A handover to fewer workers with `net.ipv4.tcp_migrate_req=1`: the successor closes the
/// surplus SO_REUSEPORT sockets and the kernel moves their queued connections, so the group
/// shrinks to one socket per worker without a reset. Runs in a network namespace of its own
/// (the sysctl is per namespace), with every process and the load inside it.
@Suite("Upgrade to fewer workers with tcp_migrate_req", .serialized, .timeLimit(.minutes(2)))
struct UpgradeMigrateTests {
    private static var unavailableReason: String? {
        guard geteuid() == 0 else { return "not root (network namespaces need CAP_SYS_ADMIN)" }
        guard ["ip", "wrk", "curl", "ss"].allSatisfy({ CommandRun.which($0) != nil }) else { return "ip, wrk, curl or ss missing" }
        guard access("/proc/sys/net/ipv4/tcp_migrate_req", F_OK) == 0 else { return "kernel without tcp_migrate_req (5.14+)" }
        return nil
    }

    @Test func fewerWorkersCloseTheSurplusSocketsWithoutResettingAConnection() throws {
        if let reason = Self.unavailableReason {
            print("skipping the tcp_migrate_req test: \(reason)")
            return
        }
        let ip = try #require(CommandRun.which("ip"))
        let namespace = "bscmig\(getpid())"
        _ = try CommandRun.succeeding(ip, ["netns", "add", namespace])
        defer { _ = try? CommandRun.run(ip, ["netns", "del", namespace]) }
        func inside(_ arguments: [String]) throws -> ManagedProcess {
            try ManagedProcess(executable: ip, arguments: ["netns", "exec", namespace] + arguments)
        }
        _ = try CommandRun.succeeding(ip, ["netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
        _ = try CommandRun.succeeding(ip, ["netns", "exec", namespace, "sysctl", "-qw", "net.ipv4.tcp_migrate_req=1"])

        let directory = NSTemporaryDirectory() + "bascule-migrate-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The namespace is empty: fixed ports cannot collide with anything.
        let backend = try inside([try TestBinaries.backend(), "--listen", "127.0.0.1:8081", "--name", "m1"])
        _ = try backend.waitForLine(containing: "listening on ")
        let configPath = directory + "/config.json"
        func write(workers: Int) throws {
            try BalancerProcess.write([
                "workers": workers, "admin": ["listen": "127.0.0.1:9000"],
                "services": [["name": "web", "listen": "127.0.0.1:8080", "backends": [["name": "m1", "address": "127.0.0.1:8081"]]]],
            ], to: configPath)
        }
        let socket = directory + "/upgrade.sock"
        let bascule = try TestBinaries.bascule()
        try write(workers: 3)
        let old = try inside([bascule, "run", "--config", configPath, "--upgrade-socket", socket])
        _ = try old.waitForLine(containing: "ready", timeout: .seconds(20))
        func listeners() throws -> Int {
            try CommandRun.succeeding(ip, ["netns", "exec", namespace, "ss", "-Hltn", "sport = :8080"]).stdout.filter { !$0.isEmpty }.count
        }
        #expect(try listeners() == 3)

        let load = try inside(["wrk", "-t1", "-c8", "-d4s", "-H", "Connection: close", "http://127.0.0.1:8080/whoami"])
        try waitUntil("the load reaches the old process") {
            let status = try CommandRun.run(ip, ["netns", "exec", namespace, "curl", "-sf", "http://127.0.0.1:9000/status"])
            let document = try? JSONSerialization.jsonObject(with: Data(status.stdout.joined(separator: "\n").utf8)) as? [String: Any]
            let accepted = (document?["services"] as? [[String: Any]])?.first?["connectionsAccepted"] as? Int ?? 0
            return accepted > 200
        }
        try write(workers: 1)
        let new = try inside([bascule, "run", "--config", configPath, "--upgrade-socket", socket, "--takeover"])
        _ = try new.waitForLine(containing: "ready", timeout: .seconds(20))
        #expect(new.lines.contains { $0.text.contains("closing the surplus sockets") }, "\(new.recentOutput())")
        #expect(old.waitForExit(timeout: .seconds(20)) == 0, "\(old.recentOutput())")
        #expect(try listeners() == 1, "the group shrank to the new process's one socket")

        #expect(load.waitForExit(timeout: .seconds(20)) == 0)
        let report = WrkReport(load.lines.map(\.text).joined(separator: "\n"))
        print("upgrade 3 -> 1 workers with tcp_migrate_req=1 under wrk -c8 Connection: close: \(report.requests) requests, "
              + "socket errors \(report.connect + report.read + report.write + report.timeout), non-2xx \(report.non2xx)")
        #expect(report.requests > 100)
        #expect(report.connect == 0 && report.read == 0 && report.write == 0 && report.timeout == 0)
        #expect(report.non2xx == 0)
        #expect(new.terminate() == 0)
    }
}
