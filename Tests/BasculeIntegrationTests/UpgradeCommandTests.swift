import BasculePosix
import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The handover's edges: `bascule upgrade` (the running process starts its own successor, as
/// under systemd), and a successor that cannot start, which must leave the running process
/// serving as before.
@Suite("Upgrade command and failed takeovers", .serialized, .timeLimit(.minutes(2)))
struct UpgradeCommandTests {
    private static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "bascule-upgrade-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private static func handover(_ adminPort: UInt16) throws -> [String: Any] {
        let body = try TestHTTPClient().get(port: adminPort, path: "/status").body
        return (try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["handover"] as? [String: Any] ?? [:]
    }

    @Test func basculeUpgradeHasTheRunningProcessStartItsSuccessorWhichTakesOver() throws {
        let (backend, backendPort) = try BackendProcess.start(name: "cmd1")
        defer { _ = backend.terminate() }
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/upgrade.sock"
        let balancer = try BalancerProcess(services: [[
            "name": "web", "backends": [["name": "cmd1", "address": "127.0.0.1:\(backendPort)"]],
        ]], extraArguments: ["--upgrade-socket", socket])
        let port = balancer.port("web")
        #expect(try TestHTTPClient().get(port: port, path: "/whoami").status == 200)

        let upgrade = try CommandRun.run(try TestBinaries.bascule(), ["upgrade", "--upgrade-socket", socket])
        #expect(upgrade.status == 0, "\(upgrade.output)")
        let successor = try #require(upgrade.output.firstMatch(of: /process (\d+) serves/).flatMap { pid_t($0.1) },
                                     "\(upgrade.output)")
        // Not the test's child: stopped by pid, whatever happens below.
        defer {
            kill(successor, SIGTERM)
            try? waitUntil("the successor stops", timeout: .seconds(10)) { kill(successor, 0) != 0 }
        }
        #expect(balancer.process.waitForExit(timeout: .seconds(10)) == 0, "the old process drains and exits 0")
        let state = try Self.handover(balancer.adminPort)
        #expect(state["role"] as? String == "new")
        #expect(state["peerPid"] as? Int == Int(balancer.process.pid))
        #expect(try TestHTTPClient().get(port: port, path: "/whoami").status == 200)
    }

    @Test func aSuccessorThatCannotStartLeavesTheRunningProcessServing() throws {
        let (backend, backendPort) = try BackendProcess.start(name: "fail1")
        defer { _ = backend.terminate() }
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/upgrade.sock"
        let service: [String: Any] = ["name": "web", "backends": [["name": "fail1", "address": "127.0.0.1:\(backendPort)"]]]
        let balancer = try BalancerProcess(services: [service], extraArguments: ["--upgrade-socket", socket])
        let port = balancer.port("web")

        // The new file adds a service on a port something else holds: the successor receives
        // the sockets, fails to bind the new address and exits without saying `serving`.
        let squatter = try BlockingSocket.listen(on: SocketAddress(bytes: [127, 0, 0, 1], port: 0))
        defer { closeDescriptor(squatter) }
        let busy = try BlockingSocket.boundPort(squatter)
        var kept = service
        kept["listen"] = "127.0.0.1:\(port)"
        let added: [String: Any] = ["name": "extra", "listen": "127.0.0.1:\(busy)",
                                    "backends": [["name": "fail1", "address": "127.0.0.1:\(backendPort)"]]]
        try BalancerProcess.write(["workers": 1, "admin": ["listen": "127.0.0.1:\(balancer.adminPort)"], "services": [kept, added]],
                                  to: balancer.configPath)
        let successor = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: [
            "run", "--config", balancer.configPath, "--upgrade-socket", socket, "--takeover",
        ])
        #expect(successor.waitForExit(timeout: .seconds(20)) == 1, "\(successor.recentOutput())")
        #expect(successor.lines.contains { $0.text.contains("cannot listen on 127.0.0.1:\(busy)") }, "\(successor.recentOutput())")

        try waitUntil("the old process counts the failed handover") {
            try Self.handover(balancer.adminPort)["state"] as? String == "failed"
        }
        let state = try Self.handover(balancer.adminPort)
        #expect(state["failed"] as? Int == 1)
        #expect(state["succeeded"] as? Int == 0)
        #expect(!balancer.process.hasExited)
        #expect(try TestHTTPClient().get(port: port, path: "/whoami").status == 200)
        // And it can still be taken over: the upgrade socket was not given up.
        try BalancerProcess.write(["workers": 1, "admin": ["listen": "127.0.0.1:\(balancer.adminPort)"], "services": [kept]],
                                  to: balancer.configPath)
        let second = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: [
            "run", "--config", balancer.configPath, "--upgrade-socket", socket, "--takeover",
        ])
        _ = try second.waitForLine(containing: "ready", timeout: .seconds(20))
        #expect(balancer.process.waitForExit(timeout: .seconds(10)) == 0)
        #expect(try TestHTTPClient().get(port: port, path: "/whoami").status == 200)
        #expect(second.terminate() == 0)
    }

    @Test func addressesRoutedByServerNameAreHandedOverAndTheNewRoutesApply() throws {
        let certificates = try TLSCertificates()
        let www = try BackendProcess.start(name: "www-1", extraArguments: try certificates.backendArguments(for: "www.example.com"))
        let api = try BackendProcess.start(name: "api-1", extraArguments: try certificates.backendArguments(for: "api.example.com"))
        defer {
            _ = www.process.terminate()
            _ = api.process.terminate()
        }
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/upgrade.sock"
        let port = try freeLoopbackPort()
        func services(apiNames: [String]) -> [[String: Any]] {
            [["name": "www", "listen": "127.0.0.1:\(port)", "serverNames": ["www.example.com"],
              "backends": [["name": "www-1", "address": "127.0.0.1:\(www.port)"]]],
             ["name": "api", "listen": "127.0.0.1:\(port)", "serverNames": apiNames,
              "backends": [["name": "api-1", "address": "127.0.0.1:\(api.port)"]]]]
        }
        let balancer = try BalancerProcess(services: services(apiNames: ["api.example.com"]), workers: 2,
                                           extraArguments: ["--upgrade-socket", socket])
        #expect(try TLSProbe.run(port: port, serverName: "api.example.com").backend == "api-1")
        #expect(try TLSProbe.run(port: port, serverName: "api2.example.com").backend == nil, "no route yet, no default")

        // A change of the routes, which a reload refuses, and one more worker.
        try BalancerProcess.write(["workers": 3, "admin": ["listen": "127.0.0.1:\(balancer.adminPort)"],
                                   "services": services(apiNames: ["api.example.com", "api2.example.com"])], to: balancer.configPath)
        let successor = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: [
            "run", "--config", balancer.configPath, "--upgrade-socket", socket, "--takeover",
        ])
        _ = try successor.waitForLine(containing: "ready", timeout: .seconds(20))
        // The two per-worker sockets of the routed address and the admin socket went over.
        _ = try balancer.process.waitForLine(containing: "sockets=3", timeout: .seconds(5))
        #expect(balancer.process.waitForExit(timeout: .seconds(10)) == 0)
        let listeners = try CommandRun.succeeding("/usr/bin/ss", ["-Hltn", "sport = :\(port)"]).stdout.filter { !$0.isEmpty }
        #expect(listeners.count == 3, "two received, one opened fresh for the third worker: \(listeners)")
        #expect(try TLSProbe.run(port: port, serverName: "www.example.com").backend == "www-1")
        #expect(try TLSProbe.run(port: port, serverName: "api2.example.com").backend == "api-1")
        #expect(successor.terminate() == 0)
    }
}
