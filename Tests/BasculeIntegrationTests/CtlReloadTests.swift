import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `bascule ctl reload`: the admin API's reload, as an operator runs it.
@Suite("ctl reload", .serialized, .timeLimit(.minutes(2)))
struct CtlReloadTests {
    private func ctl(_ arguments: [String]) throws -> (status: Int32?, output: String) {
        let process = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["ctl"] + arguments)
        let status = process.waitForExit(timeout: .seconds(20))
        return (status, process.recentOutput(limit: 100))
    }

    @Test func ctlReloadAppliesAValidFileAndReportsEveryErrorOfAnInvalidOne() throws {
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let (b, portB) = try BackendProcess.start(name: "b")
        defer { b.terminate() }
        let service: (Bool) -> [[String: Any]] = { withB in
            var backends: [[String: Any]] = [["name": "a", "address": "127.0.0.1:\(portA)"]]
            if withB { backends.append(["name": "b", "address": "127.0.0.1:\(portB)"]) }
            return [["name": "publishing", "healthCheck": ["type": "none"], "backends": backends]]
        }
        let balancer = try BalancerProcess(services: service(false))
        defer { balancer.process.terminate() }

        try balancer.rewrite(services: service(true))
        let applied = try ctl(["reload", "--config", balancer.configPath])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(try balancer.state(service: "publishing", backend: "b") == "up")

        // An invalid file: the errors come back to the operator, the running config stays.
        try "{\"services\": [{\"name\": \"publishing\", \"listen\": \"127.0.0.1:\(balancer.port("publishing"))\", \"backends\": []}], \"admin\": {\"listen\": \"127.0.0.1:\(balancer.adminPort)\"}}"
            .write(toFile: balancer.configPath, atomically: true, encoding: .utf8)
        let rejected = try ctl(["reload", "--admin", "127.0.0.1:\(balancer.adminPort)", "--config", "/dev/null"])
        #expect(rejected.status == 1)
        #expect(rejected.output.contains("services[0].backends: empty backend list"), "\(rejected.output)")
        #expect(try balancer.state(service: "publishing", backend: "b") == "up")
        #expect(try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").status == 200)
    }

    @Test func aReloadRotatesTheAdminTokenAndSaysWhatOnlyARestartApplies() throws {
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let services: [[String: Any]] = [["name": "publishing", "healthCheck": ["type": "none"],
                                          "backends": [["name": "a", "address": "127.0.0.1:\(portA)"]]]]
        let balancer = try BalancerProcess(services: services, adminToken: "first-token")
        defer { balancer.process.terminate() }
        #expect(try balancer.admin("POST", "/services/publishing/backends/a/drain", token: "first-token").status == 200)
        #expect(try balancer.metric("bascule_config_restart_pending") == 0)

        // The file gets a new token and a new admin port; SIGHUP, as a rotation script would.
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: balancer.configPath))) as? [String: Any])
        let otherAdminPort = try freeLoopbackPort()
        config["admin"] = ["listen": "127.0.0.1:\(otherAdminPort)", "token": "second-token"]
        try BalancerProcess.write(config, to: balancer.configPath)
        balancer.process.signal(SIGHUP)
        try waitUntil("the reload to be applied") { try balancer.metric("bascule_config_reloads_total") == 1 }

        // The old token no longer opens anything; the new one does, without a restart.
        #expect(try balancer.admin("POST", "/services/publishing/backends/a/enable", token: "first-token").status == 401)
        #expect(try balancer.admin("POST", "/services/publishing/backends/a/enable", token: "second-token").status == 200)
        // The admin socket stays where it was until a restart, and the process says so.
        #expect(try balancer.metric("bascule_config_restart_pending") == 1)
        let pending = try balancer.status()["settingsAwaitingRestart"] as? [String]
        #expect(pending == ["admin.listen"])
        _ = try balancer.process.waitForLine(containing: "`admin.listen` changed; it takes effect at the next restart")
    }
}

@Suite("Reload keeps health", .serialized, .timeLimit(.minutes(2)))
struct ReloadKeepsHealthTests {
    @Test func aReloadKeepsTheHealthOfBackendsItDoesNotChange() throws {
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let (b, portB) = try BackendProcess.start(name: "b")
        defer { b.terminate() }
        let (c, portC) = try BackendProcess.start(name: "c")
        defer { c.terminate() }
        // Checks far apart: after the reload, only a kept state can explain "down".
        let check: [String: Any] = ["type": "http", "path": "/health", "intervalMs": 300, "timeoutMs": 200, "rise": 2, "fall": 2]
        let service: ([(String, UInt16)]) -> [[String: Any]] = { backends in
            [["name": "publishing", "healthCheck": check,
              "backends": backends.map { ["name": $0.0, "address": "127.0.0.1:\($0.1)"] }]]
        }
        let balancer = try BalancerProcess(services: service([("a", portA), ("b", portB)]))
        defer { balancer.process.terminate() }

        _ = try TestHTTPClient().request("POST", port: portB, path: "/admin/fail")
        try waitUntil("b to be marked down") { try balancer.state(service: "publishing", backend: "b") == "down" }

        try balancer.rewrite(services: service([("a", portA), ("b", portB), ("c", portC)]))
        let reloads = try balancer.metric("bascule_config_reloads_total")
        balancer.process.signal(SIGHUP)
        try waitUntil("the reload") { try balancer.metric("bascule_config_reloads_total") > reloads }
        #expect(try balancer.state(service: "publishing", backend: "b") == "down", "b's health was reset by the reload")
        #expect(try balancer.state(service: "publishing", backend: "a") == "up")
        for _ in 0..<10 {
            #expect(try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").bodyText != "b\n")
        }
        // And the rebuilt health checks still bring it back.
        _ = try TestHTTPClient().request("POST", port: portB, path: "/admin/recover")
        try waitUntil("b to come back after the reload", timeout: .seconds(10)) {
            try balancer.state(service: "publishing", backend: "b") == "up"
        }
    }
}
