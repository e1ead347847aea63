import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What an operator sees from the commands: `check` and `run` on bad files, and the demo.
@Suite("Command line", .serialized, .timeLimit(.minutes(2)))
struct CommandLineTests {
    private func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "bascule-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private let broken = """
        {"workers": 0,
         "services": [
          {"name": "publishing", "listen": "127.0.0.1:18081", "stratgy": "round-robin",
           "backends": [{"name": "a", "address": "198.0.0.1"}]},
          {"name": "reporting", "listen": "127.0.0.1:18081", "strategy": "fastest", "backends": []}
         ]}
        """

    @Test func checkPrintsEveryErrorWithItsJSONPathAndExitsTwo() throws {
        let path = try temporaryFile(broken)
        defer { unlink(path) }
        let check = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["check", "--config", path])
        #expect(check.waitForExit(timeout: .seconds(20)) == 2)
        let output = check.recentOutput(limit: 100)
        for expected in [
            "services[0].stratgy: unknown key (did you mean \"strategy\"?)",
            "services[0].backends[0].address: \"198.0.0.1\" has no port",
            "services[1].listen: 127.0.0.1:18081 is already used by services[0] (publishing)",
            "services[1].strategy: unknown strategy \"fastest\"",
            "services[1].backends: empty backend list",
        ] {
            #expect(output.contains(expected), "missing \(expected) in:\n\(output)")
        }
    }

    @Test func runRefusesToStartOnAnInvalidFile() throws {
        let path = try temporaryFile(broken)
        defer { unlink(path) }
        let run = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["run", "--config", path])
        #expect(run.waitForExit(timeout: .seconds(20)) == 2)
        #expect(!run.lines.contains { $0.stream == .stdout && $0.text == "ready" })
    }

    @Test func checkAcceptsTheRepositoryConfigAndSummarisesIt() throws {
        let repoConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config.json").path
        let check = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["check", "--config", repoConfig])
        #expect(check.waitForExit(timeout: .seconds(20)) == 0)
        let output = check.recentOutput(limit: 100)
        #expect(output.contains("publishing") && output.contains("least-connections") && output.contains("mgmt2"))
    }

    @Test func theDemoStartsItsBackendsServesThroughTheBalancerAndStopsEverything() throws {
        // The repository's demo config, on ports free right now.
        let publishing = try freeLoopbackPort(), management = try freeLoopbackPort(), admin = try freeLoopbackPort()
        var backendPorts: [UInt16] = []
        for _ in 0..<5 { backendPorts.append(try freeLoopbackPort()) }
        let config = """
            {"workers": 1, "admin": {"listen": "127.0.0.1:\(admin)"},
             "services": [
              {"name": "publishing", "listen": "127.0.0.1:\(publishing)", "strategy": "least-connections",
               "healthCheck": {"type": "http", "path": "/health", "intervalMs": 500, "timeoutMs": 300, "rise": 2, "fall": 2},
               "backends": [{"name": "pub1", "address": "127.0.0.1:\(backendPorts[0])"},
                            {"name": "pub2", "address": "127.0.0.1:\(backendPorts[1])"},
                            {"name": "pub3", "address": "127.0.0.1:\(backendPorts[2])", "weight": 2}]},
              {"name": "management", "listen": "127.0.0.1:\(management)", "strategy": "source-hash",
               "healthCheck": {"type": "tcp", "intervalMs": 500, "timeoutMs": 300},
               "backends": [{"name": "mgmt1", "address": "127.0.0.1:\(backendPorts[3])"},
                            {"name": "mgmt2", "address": "127.0.0.1:\(backendPorts[4])", "backup": true}]}
             ]}
            """
        let path = try temporaryFile(config)
        defer { unlink(path) }
        let demo = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["demo", "--config", path])
        defer { demo.terminate() }
        try demo.waitForLine(containing: "Press Ctrl-C", timeout: .seconds(30))
        #expect(demo.recentOutput(limit: 60).contains("http://127.0.0.1:\(publishing)/"))

        var servedBy = Set<String>()
        for _ in 0..<6 {
            let response = try TestHTTPClient().get(port: publishing, path: "/whoami")
            #expect(response.status == 200)
            servedBy.insert(response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(servedBy.isSubset(of: ["pub1", "pub2", "pub3"]) && !servedBy.isEmpty)
        let management1 = try TestHTTPClient().get(port: management, path: "/whoami")
        #expect(management1.bodyText == "mgmt1\n")
        #expect(try TestHTTPClient().get(port: admin, path: "/readyz").status == 200)

        demo.signal(SIGINT)
        #expect(demo.waitForExit(timeout: .seconds(20)) == 0)
        // Every backend it started is gone: their ports refuse.
        for port in backendPorts {
            #expect((try? TCPClient(port: port, timeout: .seconds(1))) == nil, "backend on \(port) still running")
        }
    }
}
