import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `bascule ctl` for people and for scripts: tables by default, the admin JSON with --json,
/// the file from $BASCULE_CONFIG, one message per failure, and a confirmation before a
/// service loses its last eligible backend.
@Suite("ctl output", .serialized, .timeLimit(.minutes(2)))
struct CtlOutputTests {
    private struct Run {
        var status: Int32?
        var stdout: [String]
        var stderr: [String]
    }

    private func ctl(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["ctl"] + arguments,
                                         environment: environment)
        let status = process.waitForExit(timeout: .seconds(20))
        let lines = process.lines
        return Run(status: status, stdout: lines.filter { $0.stream == .stdout }.map(\.text),
                   stderr: lines.filter { $0.stream == .stderr }.map(\.text))
    }

    private func startPair() throws -> (ManagedProcess, ManagedProcess, BalancerProcess) {
        let (a, portA) = try BackendProcess.start(name: "a")
        let (b, portB) = try BackendProcess.start(name: "b")
        let balancer = try BalancerProcess(services: [
            ["name": "publishing", "healthCheck": ["type": "none"],
             "backends": [["name": "a", "address": "127.0.0.1:\(portA)"], ["name": "b", "address": "127.0.0.1:\(portB)"]]],
        ])
        return (a, b, balancer)
    }

    @Test func statusIsATableForPeopleAndJSONForScripts() throws {
        let (a, b, balancer) = try startPair()
        defer { balancer.process.terminate(); a.terminate(); b.terminate() }

        let table = try ctl(["status", "--config", balancer.configPath])
        #expect(table.status == 0, "\(table)")
        let header = try #require(table.stdout.first { $0.hasPrefix("SERVICE") && $0.contains("BACKEND") }, "\(table.stdout)")
        #expect(header.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["SERVICE", "BACKEND", "ADDRESS", "STATE"])
        let rowA = try #require(table.stdout.first { $0.hasPrefix("publishing") && $0.contains(" a ") }, "\(table.stdout)")
        let cells = rowA.split(separator: " ", omittingEmptySubsequences: true)
        #expect(cells[1] == "a" && cells[3] == "up", "\(rowA)")
        // Columns line up: the state of every backend row starts where the STATE header does.
        let stateColumn = try #require(header.range(of: "STATE")).lowerBound.utf16Offset(in: header)
        let headerIndex = try #require(table.stdout.firstIndex(of: header))
        let backendRows = table.stdout[(headerIndex + 1)...].filter { $0.hasPrefix("publishing") }
        #expect(backendRows.count == 2, "\(table.stdout)")
        for row in backendRows {
            #expect(row.dropFirst(stateColumn).hasPrefix("up"), "\(row)")
        }

        // $BASCULE_CONFIG stands for --config; --json is the admin endpoint's document.
        let json = try ctl(["status", "--json"], environment: ["BASCULE_CONFIG": balancer.configPath])
        #expect(json.status == 0, "\(json)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.joined(separator: "\n").utf8)) as? [String: Any])
        let services = try #require(document["services"] as? [[String: Any]])
        #expect((services.first?["backends"] as? [[String: Any]])?.map { $0["name"] as? String } == ["a", "b"])
    }

    @Test func drainingTheLastEligibleBackendNeedsForceAndEachFailureIsOneMessage() throws {
        let (a, b, balancer) = try startPair()
        defer { balancer.process.terminate(); a.terminate(); b.terminate() }
        let target = ["--config", balancer.configPath]

        let first = try ctl(["drain", "publishing", "a"] + target)
        #expect(first.status == 0 && first.stdout == ["publishing/a: draining, weight 1"], "\(first)")

        // b is now the only backend that can take a new connection.
        let refused = try ctl(["drain", "publishing", "b"] + target)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stdout.isEmpty && refused.stderr.count == 1, "\(refused)")
        #expect(refused.stderr.first?.contains("last eligible backend of publishing") == true, "\(refused)")
        #expect(refused.stderr.first?.contains("--force") == true, "\(refused)")
        #expect(try balancer.state(service: "publishing", backend: "b") == "up")
        let disableRefused = try ctl(["disable", "publishing", "b"] + target)
        #expect(disableRefused.status == 1, "\(disableRefused)")
        #expect(try balancer.state(service: "publishing", backend: "b") == "up")

        let forced = try ctl(["drain", "publishing", "b", "--force"] + target)
        #expect(forced.status == 0, "\(forced)")
        #expect(try balancer.state(service: "publishing", backend: "b") == "draining")

        // An unknown backend: the endpoint's reason, once, and exit status 1.
        let unknown = try ctl(["enable", "publishing", "nope"] + target)
        #expect(unknown.status == 1 && unknown.stdout.isEmpty, "\(unknown)")
        #expect(unknown.stderr == ["bascule ctl: service \"publishing\" has no backend named \"nope\" (HTTP 404)"], "\(unknown)")

        // Nothing listening: one line naming the address.
        let nobody = try ctl(["status", "--admin", "127.0.0.1:\(try freeLoopbackPort())"])
        #expect(nobody.status == 1 && nobody.stderr.count == 1, "\(nobody)")
        #expect(nobody.stderr.first?.contains("cannot reach the admin endpoint") == true, "\(nobody)")
    }
}
