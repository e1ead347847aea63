import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What keepalived's track script and a BGP speaker's health check see: /readyz turns 503
/// before this node stops accepting, so the shared address moves first and nobody is refused.
@Suite("Node readiness", .serialized, .timeLimit(.minutes(2)))
struct NodeReadinessTests {
    private func readyz(_ balancer: BalancerProcess) -> (status: Int, body: String)? {
        guard let reply = try? TestHTTPClient(timeout: .seconds(2)).get(port: balancer.adminPort, path: "/readyz") else { return nil }
        return (reply.status, reply.bodyText)
    }

    private func served(_ port: UInt16) -> Bool {
        (try? TestHTTPClient(timeout: .seconds(2)).get(port: port, path: "/whoami").status) == 200
    }

    @Test func sigtermWithAGraceReportsNotReadyButKeepsAcceptingUntilTheGraceEnds() throws {
        let (backend, backendPort) = try BackendProcess.start(name: "pub1")
        defer { backend.terminate() }
        let grace = 1500
        let balancer = try BalancerProcess(services: [[
            "name": "publishing", "healthCheck": ["type": "none"],
            "backends": [["name": "pub1", "address": "127.0.0.1:\(backendPort)"]],
        ]], extraTopLevel: ["drainGraceMs": grace])
        defer { balancer.process.terminate() }
        let port = balancer.port("publishing")
        #expect(readyz(balancer)?.status == 200)
        let kept = try TestHTTPClient(timeout: .seconds(10)).connect(port: port)
        defer { kept.close() }
        #expect(try kept.get("/whoami").status == 200)

        let signalled = ContinuousClock.now
        balancer.process.signal(SIGTERM)
        try waitUntil("/readyz to report the shutdown", timeout: .seconds(2)) {
            readyz(balancer).map { $0.status == 503 && $0.body.contains("draining for shutdown") } ?? false
        }
        let notReadyAfter = ContinuousClock.now - signalled
        // The address has not moved yet, so whoever still arrives must be served.
        var servedDuringGrace = 0
        while ContinuousClock.now - signalled < .milliseconds(grace / 2) {
            #expect(served(port), "a new client was refused during the grace period")
            servedDuringGrace += 1
        }
        try waitUntil("the listener to close once the grace period is over", timeout: .seconds(5)) {
            (try? TCPClient(port: port, timeout: .seconds(1))) == nil
        }
        let closedAfter = ContinuousClock.now - signalled
        #expect(closedAfter >= .milliseconds(grace - 100), "listener closed after \(closedAfter), before the \(grace) ms grace")
        #expect(notReadyAfter < .milliseconds(grace / 2))
        // A connection opened before the signal is drained, not cut.
        #expect(try kept.get("/whoami").bodyText == "pub1\n")
        kept.close()
        #expect(balancer.process.waitForExit(timeout: .seconds(10)) == 0)
        print("node-readiness: not ready \(notReadyAfter) after SIGTERM; \(servedDuringGrace) clients served in the grace; listener closed after \(closedAfter)")
    }

    @Test func ctlDrainNodeTurnsReadinessOffWhileTrafficIsStillServedAndResumeUndoesIt() throws {
        let (backend, backendPort) = try BackendProcess.start(name: "mgmt1")
        defer { backend.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "management", "healthCheck": ["type": "none"],
            "backends": [["name": "mgmt1", "address": "127.0.0.1:\(backendPort)"]],
        ]])
        defer { balancer.process.terminate() }
        func ctl(_ command: String) throws -> Int32? {
            let process = try ManagedProcess(executable: try TestBinaries.bascule(),
                                             arguments: ["ctl", command, "--admin", "127.0.0.1:\(balancer.adminPort)"])
            return process.waitForExit(timeout: .seconds(20))
        }
        #expect(try ctl("drain-node") == 0)
        let drained = try #require(readyz(balancer))
        #expect(drained.status == 503)
        #expect(drained.body.contains("node drained by operator"))
        #expect(try balancer.metric("bascule_node_drained") == 1)
        #expect(try balancer.status()["ready"] as? Bool == false)
        #expect(served(balancer.port("management")))
        #expect(try ctl("resume-node") == 0)
        #expect(readyz(balancer)?.status == 200)
        #expect(try balancer.metric("bascule_node_drained") == 0)
    }
}
