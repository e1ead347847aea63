import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Failures of the control plane that used to pass in silence: each now has a log line an
/// operator can find and a counter on /metrics an alert can watch.
@Suite("Control-plane failures are visible", .serialized, .timeLimit(.minutes(2)))
struct ControlPlaneFailureTests {
    @Test func anAccessLogThatCannotBeWrittenIsLoggedAndCountedWhileTrafficFlows() throws {
        let (pub1, port1) = try BackendProcess.start(name: "pub1")
        defer { pub1.terminate() }
        // /dev/full opens like any file and fails every write with ENOSPC: a full disk.
        let balancer = try BalancerProcess(services: [
            ["name": "publishing", "healthCheck": ["type": "none"],
             "backends": [["name": "pub1", "address": "127.0.0.1:\(port1)"]]],
        ], extraTopLevel: ["accessLog": "/dev/full"])
        defer { balancer.process.terminate() }

        let response = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami")
        #expect(response.status == 200, "a failing access log must not cost a client its answer")
        try waitUntil("the failed write to be counted") {
            try balancer.metric("bascule_access_log_write_errors_total") >= 1
        }
        #expect(try balancer.metric("bascule_access_log_dropped_lines_total") >= 1)
        #expect(try balancer.metric("bascule_access_log_lines_total") == 0)
        let line = try balancer.process.waitForLine(containing: "access log write failed")
        #expect(line.contains("/dev/full"))
    }

    @Test func healthChecksThatCannotBeRebuiltAfterAReloadAreLoggedAndCounted() throws {
        let (pub1, port1) = try BackendProcess.start(name: "pub1")
        defer { pub1.terminate() }
        let balancer = try BalancerProcess(services: [
            ["name": "publishing", "healthCheck": ["type": "none"],
             "backends": [["name": "pub1", "address": "127.0.0.1:\(port1)"]]],
        ])
        defer { balancer.process.terminate() }
        #expect(try balancer.metric("bascule_reload_health_rebuild_failures_total") == 0)

        // Readable, so the file validates; not a certificate, so the TLS context cannot load it.
        let caFile = balancer.directory + "/not-a-ca.pem"
        try "not a certificate\n".write(toFile: caFile, atomically: true, encoding: .utf8)
        try balancer.rewrite(services: [
            ["name": "publishing", "healthCheck": ["type": "https", "path": "/", "caFile": caFile],
             "backends": [["name": "pub1", "address": "127.0.0.1:\(port1)"]]],
        ])
        balancer.process.signal(SIGHUP)
        try waitUntil("the reload to be applied") { try balancer.metric("bascule_config_reloads_total") == 1 }
        #expect(try balancer.metric("bascule_reload_health_rebuild_failures_total") == 1)
        let line = try balancer.process.waitForLine(containing: "health checks could not be rebuilt")
        #expect(line.contains("not-a-ca.pem"))
        // The reload itself stands: traffic still reaches the backend.
        #expect(try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").status == 200)
    }

    /// A reload used to open the FIFO and wait for a writer: admin dead, checks stopped,
    /// SIGTERM ignored. Now the reload is refused at once, naming the path and what it is.
    @Test func aReloadWhileTheConfigPathIsAFIFOIsRefusedAndTheProcessStaysResponsive() throws {
        let (pub1, port1) = try BackendProcess.start(name: "pub1")
        defer { pub1.terminate() }
        let balancer = try BalancerProcess(services: [
            ["name": "publishing", "healthCheck": ["type": "none"],
             "backends": [["name": "pub1", "address": "127.0.0.1:\(port1)"]]],
        ])
        defer {
            // Unblocks a control thread stuck opening the FIFO, so a failing run still ends.
            let writer = open(balancer.configPath, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            balancer.process.terminate()
        }
        unlink(balancer.configPath)
        #expect(mkfifo(balancer.configPath, 0o600) == 0)
        balancer.process.signal(SIGHUP)
        let line = try balancer.process.waitForLine(containing: "not a regular file", timeout: .seconds(10))
        #expect(line.contains("FIFO") && line.contains(balancer.configPath), "\(line)")
        #expect(try TestHTTPClient().get(port: balancer.adminPort, path: "/healthz").status == 200)
        #expect(try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").status == 200)
        balancer.process.signal(SIGTERM)
        #expect(balancer.process.waitForExit(timeout: .seconds(10)) != nil, "SIGTERM must still stop the process")
    }
}
