import BasculeBackendService
import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16 with hosts that vanish: a backend host black-holed (nftables drops everything)
/// mid-stream, mid-refresh, and with no check at all, in namespaces this suite creates and
/// removes (deploy/lab/outage-lab.sh). Figures printed with `outages:`.
@Suite("Outages: a backend host vanishes", .serialized, .enabled(if: OutageLab.isAvailable), .timeLimit(.minutes(3)))
struct OutageLabTests {
    static var check: [String: Any] { ["type": "http", "path": "/health", "intervalMs": 500, "timeoutMs": 300,
                                       "rise": 2, "fall": 2] }
    /// interval × fall + timeout + 1 s.
    static let checkBoundMs = 500 * 2 + 300 + 1000
    static let size: UInt64 = 256 << 20

    /// Starts a rate-limited download, black-holes the host serving it once 4 MiB arrived, and
    /// waits at most `wait` for curl to end. Returns the victim, curl's exit status (nil: still
    /// running) and the time from the failure to its end.
    static func blackholeMidDownload(_ lab: OutageLab, file: String, how: String = "blackhole",
                                     wait: Duration) throws -> (victim: String, status: Int32?, elapsed: Duration, curl: ManagedProcess) {
        let curl = try lab.startDownload(path: "/content/pkg?size=\(size)", to: file)
        try waitUntil("4 MiB downloaded", timeout: .seconds(20), poll: .milliseconds(20)) { OutageLab.size(of: file) >= 4 << 20 }
        let victim = try #require(lab.header("X-Backend", of: file))
        try lab.fail(how, victim)
        let failedAt = ContinuousClock.now
        let status = curl.waitForExit(timeout: wait)
        return (victim, status, ContinuousClock.now - failedAt, curl)
    }

    @Test func aBlackholedHostsDownloadIsResetWithinTheBoundAndResumesOnASurvivor() throws {
        let lab = try OutageLab()
        defer { lab.stop() }
        for node in ["b1", "b2"] { try lab.startBackend(node) }
        _ = try lab.startBalancer(backends: ["b1", "b2"], service: ["healthCheck": Self.check])
        let file = lab.directory + "/pkg"
        let (victim, status, elapsed, curl) = try Self.blackholeMidDownload(lab, file: file, wait: .seconds(10))
        // curl 56: "Recv failure: Connection reset by peer".
        #expect(status == 56, "curl ended with \(status.map(String.init) ?? "nothing yet"): \(curl.recentOutput(limit: 3))")
        #expect(elapsed.milliseconds <= Self.checkBoundMs,
                "reset \(elapsed.milliseconds) ms after the black-hole, bound \(Self.checkBoundMs) ms")
        let cutAt = OutageLab.size(of: file)

        let resume = try lab.startDownload(path: "/content/pkg?size=\(Self.size)", to: file, limitRate: nil, resume: true)
        #expect(resume.waitForExit(timeout: .seconds(60)) == 0, "resume failed: \(resume.recentOutput(limit: 3))")
        let survivor = lab.header("X-Backend", of: file)
        #expect(survivor != nil && survivor != victim)
        #expect(OutageLab.size(of: file) == Self.size)
        #expect(try OutageLab.sha256(of: file) == ContentGenerator(name: "pkg").sha256(size: Self.size))
        #expect(try lab.metric("bascule_backend_connections_reset_total", ["backend": victim, "reason": "down"]) == 1)
        print("outages: host black-hole with check, reset: client reset \(elapsed.milliseconds) ms after "
              + "(bound \(Self.checkBoundMs) ms); cut at \(cutAt) bytes, resumed on \(survivor ?? "?"), SHA-256 exact")
    }

    @Test func withKeepABlackholedHostsDownloadHangs() throws {
        let lab = try OutageLab()
        defer { lab.stop() }
        for node in ["b1", "b2"] { try lab.startBackend(node) }
        _ = try lab.startBalancer(backends: ["b1", "b2"], service: ["healthCheck": Self.check, "onBackendDown": "keep"])
        let wait = Duration.milliseconds(Self.checkBoundMs + 3000)
        let (victim, status, elapsed, _) = try Self.blackholeMidDownload(lab, file: lab.directory + "/pkg", wait: wait)
        #expect(status == nil, "curl ended (\(status ?? 0)) though the balancer keeps the connection")
        #expect(try lab.admin("/status").contains("\"down\""))
        #expect(try lab.metric("bascule_backend_active_connections", ["backend": victim]) == 1)
        print("outages: host black-hole with check, keep: client still waiting \(elapsed.milliseconds) ms after")
    }

    @Test func aBlackholedHostMidRefreshFailsNoNewConnection() throws {
        let lab = try OutageLab()
        defer { lab.stop() }
        for node in ["b1", "b2", "b3"] { try lab.startBackend(node) }
        _ = try lab.startBalancer(backends: ["b1", "b2", "b3"], service: ["healthCheck": Self.check])
        let url = "http://\(OutageLab.address("lb")):8000/whoami"
        let loop = try lab.start("cl", "/bin/sh", ["-c", """
            end=$(($(date +%s) + 8)); while [ $(date +%s) -lt $end ]; do
              curl -s -o /dev/null --max-time 3 -w '%{http_code} %{exitcode}\\n' \(url); done
            """])
        try waitUntil("30 refreshes", timeout: .seconds(20)) { loop.lines.count >= 30 }
        try lab.fail("blackhole", "b1")
        #expect(loop.waitForExit(timeout: .seconds(20)) == 0)
        let results = loop.lines.filter { $0.stream == .stdout }.map(\.text)
        let failed = results.filter { $0 != "200 0" }
        // A request already sent to b1 when it vanished cannot be saved by any L4 balancer: it
        // is reset (curl 56) once b1 is marked down. Every connection made after that, and
        // every connect that met the dead host, must succeed (retried on a survivor).
        #expect(failed.filter { $0 != "000 56" }.isEmpty, "failed refreshes: \(failed)")
        #expect(failed.count <= 1, "failed refreshes: \(failed)")
        #expect(try lab.metric("bascule_backend_connect_errors_total", ["backend": "b1", "reason": "timeout"]) >= 1)
        print("outages: host black-hole mid-refresh: \(results.count) connections, \(failed.count) failed "
              + "(\(failed.isEmpty ? "none in flight" : "the one in flight, reset"))")
    }

    @Test func withNoCheckKeepaliveTearsDownAVanishedHostsConnection() throws {
        let lab = try OutageLab()
        defer { lab.stop() }
        for node in ["b1", "b2"] { try lab.startBackend(node) }
        _ = try lab.startBalancer(backends: ["b1", "b2"], service: [
            "healthCheck": ["type": "none"], "keepAliveIdleSeconds": 1, "keepAliveIntervalSeconds": 1, "keepAliveCount": 2,
        ])
        // The documented bound: idle + interval × count (the user timeout defaults to it).
        let boundMs = (1 + 1 * 2) * 1000
        let (victim, status, elapsed, _) = try Self.blackholeMidDownload(lab, file: lab.directory + "/pkg",
                                                                         wait: .milliseconds(boundMs + 5000))
        #expect(status == 56, "curl ended with \(status.map(String.init) ?? "nothing yet")")
        // Slack: the data already in the client's buffers, and the probe timer's grid.
        #expect(elapsed.milliseconds <= boundMs + 1500,
                "torn down \(elapsed.milliseconds) ms after the black-hole, bound \(boundMs) ms")
        #expect(try lab.metric("bascule_backend_connections_timed_out_total", ["backend": victim]) == 1)
        #expect(try lab.metric("bascule_backend_connections_reset_total", ["backend": victim]) == 0)
        print("outages: host black-hole, no check, keepalive 1/1/2: client reset \(elapsed.milliseconds) ms after (bound \(boundMs) ms)")
    }
}
