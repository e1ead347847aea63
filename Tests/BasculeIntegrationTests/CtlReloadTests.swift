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
}
