import BasculeTestSupport
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

    @Test func checkOnAFIFOOrADirectoryAnswersAtOnceNamingWhatThePathIs() throws {
        let fifo = NSTemporaryDirectory() + "bascule-fifo-\(getpid()).json"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        for (path, kind) in [(fifo, "a FIFO"), (NSTemporaryDirectory(), "a directory"), ("/dev/zero", "a character device")] {
            let check = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["check", "--config", path])
            let status = check.waitForExit(timeout: .seconds(10))
            if status == nil {
                // A check stuck opening the FIFO: a writer releases it so the run can end.
                let writer = open(fifo, O_WRONLY | O_NONBLOCK)
                if writer >= 0 { close(writer) }
            }
            #expect(status == 2, "bascule check on \(kind) did not answer")
            let output = check.recentOutput(limit: 20)
            #expect(output.contains(path) && output.contains("not a regular file but \(kind)"), "\(output)")
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
        // The repository's demo config.json, every address moved to a port free right now.
        let repoConfig = ScaleOutLab.repository + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repoConfig))) as? [String: Any])
        let admin = try freeLoopbackPort()
        config["workers"] = 1
        config["admin"] = ["listen": "127.0.0.1:\(admin)"]
        var listen: [String: UInt16] = [:]
        var backendPorts: [UInt16] = []
        var services = try #require(config["services"] as? [[String: Any]])
        // Services that share an address (routed by TLS server name) keep sharing one.
        var moved: [String: UInt16] = [:]
        var routed: [String: UInt16] = [:]
        for index in services.indices {
            let original = services[index]["listen"] as! String
            let port = try moved[original] ?? freeLoopbackPort()
            moved[original] = port
            if original.hasSuffix(":8443") { routed[services[index]["name"] as! String] = port } else {
                listen[services[index]["name"] as! String] = port
            }
            services[index]["listen"] = "127.0.0.1:\(port)"
            var backends = try #require(services[index]["backends"] as? [[String: Any]])
            for backend in backends.indices {
                backendPorts.append(try freeLoopbackPort())
                backends[backend]["address"] = "127.0.0.1:\(backendPorts.last!)"
            }
            services[index]["backends"] = backends
        }
        config["services"] = services
        // The platform's three pools, each served by backends of its own role.
        #expect(Set(listen.keys) == ["publishing", "management", "reporting"])
        // And one HTTPS address routed by server name.
        #expect(Set(routed.keys) == ["reporting-tls", "management-tls", "publishing-tls"] && Set(routed.values).count == 1)
        let path = try temporaryFile(String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self))
        defer { unlink(path) }
        let demo = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["demo", "--config", path])
        defer { demo.terminate() }
        try demo.waitForLine(containing: "Press Ctrl-C", timeout: .seconds(30))
        let banner = demo.recentOutput(limit: 60)
        for (name, port) in listen {
            #expect(banner.split(separator: "\n").contains { $0.contains(name) && $0.contains("http://127.0.0.1:\(port)/") },
                    "the banner lacks \(name): \(banner)")
        }
        for (name, port) in routed {
            #expect(banner.split(separator: "\n").contains { $0.contains(name) && $0.contains("https://127.0.0.1:\(port)/") },
                    "the banner lacks \(name): \(banner)")
        }
        let publishing = listen["publishing"]!

        var servedBy = Set<String>()
        for _ in 0..<6 {
            let response = try TestHTTPClient().get(port: publishing, path: "/whoami")
            #expect(response.status == 200)
            servedBy.insert(response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(servedBy.isSubset(of: ["pub1", "pub2", "pub3"]) && !servedBy.isEmpty)
        let management1 = try TestHTTPClient().get(port: listen["management"]!, path: "/whoami")
        #expect(management1.bodyText == "mgmt1\n")
        #expect(try TestHTTPClient().get(port: listen["management"]!, path: "/").bodyText.contains("\"role\":\"management\""))
        let report = try TestHTTPClient().get(port: listen["reporting"]!, path: "/")
        #expect(report.status == 200 && report.bodyText.hasPrefix("backend,metric,value\n"), "\(report.bodyText)")
        #expect(try TestHTTPClient().get(port: admin, path: "/readyz").status == 200)

        demo.signal(SIGINT)
        #expect(demo.waitForExit(timeout: .seconds(20)) == 0)
        // Every backend it started is gone: their ports refuse.
        for port in backendPorts {
            #expect((try? TCPClient(port: port, timeout: .seconds(1))) == nil, "backend on \(port) still running")
        }
    }

    @Test func theDemoServesItsTLSRoutesWithCertificatesItMadeAtStart() throws {
        let shared = try freeLoopbackPort(), admin = try freeLoopbackPort()
        let reporting = try freeLoopbackPort(), fallback = try freeLoopbackPort()
        let config = """
            {"workers": 1, "admin": {"listen": "127.0.0.1:\(admin)"},
             "services": [
              {"name": "reporting", "listen": "127.0.0.1:\(shared)", "serverNames": ["reporting.bascule.test"],
               "backends": [{"name": "rep1", "address": "127.0.0.1:\(reporting)"}]},
              {"name": "publishing-tls", "listen": "127.0.0.1:\(shared)",
               "backends": [{"name": "ptls1", "address": "127.0.0.1:\(fallback)"}]}
             ]}
            """
        let path = try temporaryFile(config)
        defer { unlink(path) }
        let demo = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["demo", "--config", path])
        defer { demo.terminate() }
        try demo.waitForLine(containing: "Press Ctrl-C", timeout: .seconds(30))
        #expect(demo.recentOutput(limit: 60).contains("https://127.0.0.1:\(shared)/ for reporting.bascule.test"))
        let named = try TLSProbe.run(port: shared, serverName: "reporting.bascule.test")
        #expect(named.subject == "reporting.bascule.test" && named.backend == "rep1")
        let other = try TLSProbe.run(port: shared, serverName: "else.bascule.test")
        #expect(other.subject == "publishing-tls.bascule.test" && other.backend == "ptls1")
        demo.signal(SIGINT)
        #expect(demo.waitForExit(timeout: .seconds(20)) == 0)
    }
}
