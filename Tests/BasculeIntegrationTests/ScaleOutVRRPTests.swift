import BasculeTestSupport
import Foundation
import Testing

/// An active/standby pair behind keepalived (deploy/keepalived/keepalived.conf.in): n1 holds
/// 192.0.2.10, n2 listens on it anyway (IP_FREEBIND) and takes it over when n1's /readyz
/// fails. A client in its own namespace opens a new connection every 50 ms throughout.
extension ScaleOutLabTests {
    @Suite("VRRP pair")
    struct ScaleOutVRRPTests {
        static let vip = "192.0.2.10"
        static let target = "\(vip):80"

        /// Waits until `node` holds the address; returns how long that took from `since`.
        private func waitForAddress(on node: String, _ lab: ScaleOutLab, since: ContinuousClock.Instant,
                                    timeout: Duration = .seconds(30)) throws -> Duration {
            try waitUntil("\(node) to hold \(Self.vip) (lab output:\n\(lab.output()))", timeout: timeout, poll: .milliseconds(50)) {
                try lab.vipHolder() == node
            }
            return ContinuousClock.now - since
        }

        @Test func killingTheActiveNodesBasculeMovesTheAddressToTheStandby() async throws {
            let lab = try await ScaleOutLab(.vrrp)
            defer { lab.stop() }
            #expect(try lab.vipHolder() == "n1")
            let loop = try LabClientLoop(lab: lab, target: Self.target)
            try loop.waitForSuccesses(10)

            let killed = ContinuousClock.now
            try lab.signal("n1", "bascule", "KILL")
            let moved = try waitForAddress(on: "n2", lab, since: killed)
            try loop.waitForSuccesses(loop.successes + 20)
            let summary = try loop.finish()

            print("scale-out: vrrp SIGKILL of the active Bascule: address on the standby after \(moved.milliseconds) ms; "
                  + "client loop: \(summary.failed) failed of \(summary.attempts), longest gap \(Int(summary.longestGapMs)) ms")
            // keepalived: two failed checks a second apart, then the FAULT hands over at once.
            #expect(summary.longestGapMs < 8000, "failures: \(summary.failures)")
            #expect(try lab.metric("n2", "bascule_service_connections_accepted_total") > 0)
        }

        @Test func stoppingTheActiveNodesKeepalivedMovesTheAddressToTheStandby() async throws {
            let lab = try await ScaleOutLab(.vrrp)
            defer { lab.stop() }
            let loop = try LabClientLoop(lab: lab, target: Self.target)
            try loop.waitForSuccesses(10)

            let stopped = ContinuousClock.now
            try lab.signal("n1", "keepalived", "TERM")
            let moved = try waitForAddress(on: "n2", lab, since: stopped)
            try loop.waitForSuccesses(loop.successes + 20)
            let summary = try loop.finish()

            print("scale-out: vrrp SIGTERM to the active keepalived: address on the standby after \(moved.milliseconds) ms; "
                  + "client loop: \(summary.failed) failed of \(summary.attempts), longest gap \(Int(summary.longestGapMs)) ms")
            // A stopping keepalived sends a priority-0 advert: the standby takes over at once.
            #expect(summary.longestGapMs < 8000, "failures: \(summary.failures)")
            #expect(try lab.metric("n2", "bascule_service_connections_accepted_total") > 0)
        }

        /// SIGTERM with drainGraceMs: /readyz turns 503 at once, keepalived gives the address up,
        /// and only then does n1 stop accepting; its open download keeps flowing (second chance
        /// hands n2's segments of it back to n1) until it is complete.
        @Test func sigtermMovesTheAddressBeforeTheListenerClosesAndFinishesTheOpenDownload() async throws {
            // keepalived needs two failed checks a second apart plus an advert (about 2-3 s on a
            // quiet machine, up to 7 s seen on a loaded one); the grace must outlast that.
            let grace = 10000
            let lab = try await ScaleOutLab(.vrrp, ["--second-chance", "--drain-grace-ms", "\(grace)"])
            defer { lab.stop() }
            let loop = try LabClientLoop(lab: lab, target: Self.target)
            try loop.waitForSuccesses(10)

            // 3 MiB read at 384 KiB/s: about 8 s, still running well after the address moved.
            let size = 3 << 20
            let download = try lab.startClients(["download", "--target", Self.target, "--path", "/content/handover?size=\(size)",
                                                 "--rate", "\(384 << 10)"])
            defer { download.terminate(grace: .seconds(1)) }
            try download.waitForLine(containing: "\"event\":\"head\"", timeout: .seconds(10))

            let signalled = ContinuousClock.now
            try lab.signal("n1", "bascule", "TERM")
            let moved = try waitForAddress(on: "n2", lab, since: signalled)
            #expect(moved < .milliseconds(grace), "the address moved after the grace period: clients were refused")
            try waitUntil("n1's Bascule to exit after draining", timeout: .seconds(30), poll: .milliseconds(100)) {
                !lab.isRunning("n1", "bascule")
            }
            let exited = ContinuousClock.now - signalled
            // The download's last segments (the client's FIN) reached n1 too: it exits once the
            // download is done, not when drainTimeoutMs (20 s) gives up on it.
            #expect(exited < .milliseconds(grace) + .seconds(5), "n1 drained for \(exited)")
            #expect(download.waitForExit(timeout: .seconds(20)) == 0, "download: \(download.recentOutput(limit: 3))")
            let result = download.lines.last { $0.text.contains("\"event\":\"download\"") }?.text ?? "(no result)"
            #expect(result.contains("\"complete\":true") && result.contains("\"received\":\(size)"), "download: \(result)")
            try loop.waitForSuccesses(loop.successes + 20)
            let summary = try loop.finish()

            print("scale-out: vrrp SIGTERM with drainGraceMs \(grace): address on the standby after \(moved.milliseconds) ms, "
                  + "n1 exited after \(exited.milliseconds) ms; client loop: \(summary.failed) failed of \(summary.attempts), "
                  + "longest gap \(Int(summary.longestGapMs)) ms; open download: \(result)")
            #expect(summary.failed == 0, "failures: \(summary.failures)")
        }

        /// Maintenance: `bascule ctl drain-node` on the active node moves the address away while
        /// the node keeps serving; `resume-node` brings it back (n1 has the higher priority).
        @Test func drainNodeMovesTheAddressAwayAndResumeNodeBringsItBackWithNoFailedConnection() async throws {
            let lab = try await ScaleOutLab(.vrrp, ["--second-chance"])
            defer { lab.stop() }
            let loop = try LabClientLoop(lab: lab, target: Self.target)
            try loop.waitForSuccesses(10)

            let drained = ContinuousClock.now
            try lab.ctl("n1", "drain-node")
            let readiness = try lab.admin("n1", "/readyz")
            #expect(readiness.status == 503 && readiness.body.contains("drained by operator"), "\(readiness)")
            let movedAway = try waitForAddress(on: "n2", lab, since: drained)
            try loop.waitForSuccesses(loop.successes + 20)

            let resumed = ContinuousClock.now
            try lab.ctl("n1", "resume-node")
            #expect(try lab.admin("n1", "/readyz").status == 200)
            let movedBack = try waitForAddress(on: "n1", lab, since: resumed)
            try loop.waitForSuccesses(loop.successes + 20)
            let summary = try loop.finish()

            print("scale-out: vrrp ctl drain-node: address on the standby after \(movedAway.milliseconds) ms; resume-node: "
                  + "back after \(movedBack.milliseconds) ms; client loop: \(summary.failed) failed of \(summary.attempts), "
                  + "longest gap \(Int(summary.longestGapMs)) ms")
            #expect(summary.failed == 0, "failures: \(summary.failures)")
        }
    }
}
