import BasculeBackendService
import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16 on loopback: a backend that freezes (SIGSTOP) keeps its port open and its sockets
/// alive, so nothing but the balancer can tell its clients to go elsewhere. Its HTTP check
/// fails, it is marked down, and with `onBackendDown: "reset"` its open connections are reset
/// at once; with `keep` they hang. Tiers and failback on the same frozen backends.
@Suite("Open connections when a backend is marked down", .serialized, .timeLimit(.minutes(3)))
struct BackendDownResetTests {
    static let intervalMs = 200
    static let timeoutMs = 150
    static let fall = 2
    /// The issue's bound: interval × fall + timeout + 1 s.
    static let boundMs = intervalMs * fall + timeoutMs + 1000

    static func check() -> [String: Any] {
        healthCheckConfig("http", intervalMs: intervalMs, timeoutMs: timeoutMs, rise: 2, fall: fall)
    }

    /// Downloads through the service; once `stopAfter` bytes arrived, freezes whichever pool
    /// backend serves and goes on reading. Returns the download and the time from the freeze
    /// to the end of the first connection.
    static func freezeMidDownload(port: UInt16, pool: [PoolBackend], size: UInt64, hasher: SHA256Hasher,
                                  readTimeout: Duration) throws -> (download: StreamedDownload, victim: String, afterFreeze: Duration) {
        var servedBy: String?
        var frozenAt: ContinuousClock.Instant?
        let download = try streamDownload(port: port, path: "/content/pkg?size=\(size)", timeout: readTimeout,
                                          onHead: { _, headers in
                                              servedBy = headers.first { $0.name.lowercased() == "x-backend" }?.value
                                          }) { chunk, total in
            hasher.update(chunk)
            if frozenAt == nil && total >= 8 << 20 {
                guard let victim = pool.first(where: { $0.name == servedBy }) else {
                    throw TestHTTPError(description: "download served by \(servedBy ?? "nobody"), not a pool backend")
                }
                victim.stop()
                frozenAt = .now
            }
        }
        let frozen = try #require(frozenAt, "the download ended before 8 MiB: \(download)")
        return (download, try #require(servedBy), ContinuousClock.now - frozen)
    }

    @Test func aFrozenBackendsDownloadIsResetWithinTheBoundAndResumesOnASurvivor() throws {
        let pool = try startPool("pub", count: 2)
        let balancer = try BalancerProcess(services: [
            serviceConfig("publishing", healthCheck: Self.check(), backends: pool.map { $0.config() }),
        ])
        let port = balancer.port("publishing")
        let size: UInt64 = 1 << 30
        let hasher = SHA256Hasher()
        let (first, victim, afterFreeze) = try Self.freezeMidDownload(port: port, pool: pool, size: size, hasher: hasher,
                                                                      readTimeout: .seconds(10))
        #expect(first.cut != nil, "the download was not cut")
        #expect(first.cut?.contains("reset") == true || first.cut?.contains("ECONNRESET") == true,
                "cut by something else than a reset: \(first.cut ?? "")")
        #expect(afterFreeze.milliseconds <= Self.boundMs,
                "reset \(afterFreeze.milliseconds) ms after the freeze, bound \(Self.boundMs) ms")

        let tail = try streamDownload(port: port, path: "/content/pkg?size=\(size)",
                                      headers: [("Range", "bytes=\(first.bytesReceived)-")],
                                      timeout: .seconds(30)) { chunk, _ in hasher.update(chunk) }
        #expect(tail.status == 206)
        let survivor = try #require(tail.header("X-Backend"))
        #expect(survivor != victim)
        #expect(tail.complete, "the resumed download was cut: \(tail.cut ?? "?")")
        #expect(hasher.finalize() == ContentGenerator(name: "pkg").sha256(size: size))
        #expect(try balancer.metric("bascule_backend_connections_reset_total",
                                    ["backend": victim, "reason": "down"]) == 1)
        print("outages: SIGSTOP with check, reset: client reset \(afterFreeze.milliseconds) ms after the freeze "
              + "(bound \(Self.boundMs) ms); resumed on \(survivor), SHA-256 exact")
    }

    @Test func withKeepAFrozenBackendsDownloadHangsPastTheBound() throws {
        let pool = try startPool("pub", count: 2)
        var service = serviceConfig("publishing", healthCheck: Self.check(), backends: pool.map { $0.config() })
        service["onBackendDown"] = "keep"
        let balancer = try BalancerProcess(services: [service])
        let waited = Duration.milliseconds(Self.boundMs + 2000)
        let (first, victim, afterFreeze) = try Self.freezeMidDownload(port: balancer.port("publishing"), pool: pool,
                                                                      size: 1 << 30, hasher: SHA256Hasher(),
                                                                      readTimeout: waited)
        // The client's own read timeout ended it, not the balancer: nothing arrived for that long.
        #expect(first.cut?.contains("timed out") == true || first.cut?.contains("EAGAIN") == true
                    || first.cut?.contains("Resource temporarily unavailable") == true,
                "expected the client's read to time out, got: \(first.cut ?? "a complete download")")
        #expect(afterFreeze >= waited)
        #expect(try balancer.state(service: "publishing", backend: victim) == "down")
        #expect(try balancer.metric("bascule_backend_connections_reset_total", ["backend": victim]) == 0)
        print("outages: SIGSTOP with check, keep: no reset in \(afterFreeze.milliseconds) ms (the client gave up)")
    }

    @Test func trafficGoesToTheLowestTierAndFailbackSendsClientsHome() throws {
        let primary = try PoolBackend(name: "primary")
        let partner = try PoolBackend(name: "partner")
        let disaster = try PoolBackend(name: "dr")
        var service = serviceConfig("db", strategy: "round-robin", healthCheck: Self.check(), backends: [
            primary.config(), partner.config(backup: true), ["name": "dr", "address": disaster.address, "tier": 2],
        ])
        service["failback"] = true
        let balancer = try BalancerProcess(services: [service])
        #expect(try balancer.servedBy("db") == "primary")
        #expect(try balancer.backendStatus(service: "db", backend: "dr")?["tier"] as? Int == 2)

        primary.stop()
        try balancer.waitForState("down", service: "db", backend: "primary")
        #expect(try (0..<5).map { _ in try balancer.servedBy("db") } == Array(repeating: "partner", count: 5))
        partner.stop()
        try balancer.waitForState("down", service: "db", backend: "partner")
        #expect(try (0..<5).map { _ in try balancer.servedBy("db") } == Array(repeating: "dr", count: 5))
        #expect(try balancer.metric("bascule_service_active_tier", ["service": "db"]) == 2)

        // A client held by the disaster-recovery tier when the primary returns is reset
        // (failback), and its next connection lands on the primary.
        var returnedAt: ContinuousClock.Instant?
        let held = try streamDownload(port: balancer.port("db"), path: "/content/big?size=\(1 << 30)",
                                      timeout: .seconds(10)) { _, total in
            if returnedAt == nil && total >= 1 << 20 {
                #expect(try balancer.metric("bascule_backend_active_connections", ["backend": "dr"]) == 1)
                primary.resume()
                partner.resume()
                try balancer.waitForState("up", service: "db", backend: "primary")
                returnedAt = .now
            }
        }
        #expect(held.header("X-Backend") == "dr")
        #expect(held.cut != nil, "the connection held by tier 2 was not cut when the primary came back")
        #expect(try balancer.metric("bascule_backend_connections_reset_total", ["backend": "dr", "reason": "failback"]) == 1)
        #expect(try balancer.servedBy("db") == "primary")
        #expect(try balancer.metric("bascule_service_active_tier", ["service": "db"]) == 0)
    }

    @Test func withoutFailbackTheBackupKeepsItsConnectionsWhenThePrimaryReturns() throws {
        let primary = try PoolBackend(name: "primary")
        let partner = try PoolBackend(name: "partner")
        let balancer = try BalancerProcess(services: [
            serviceConfig("db", healthCheck: Self.check(), backends: [primary.config(), partner.config(backup: true)]),
        ])
        primary.stop()
        try balancer.waitForState("down", service: "db", backend: "primary")
        var returned = false
        let held = try streamDownload(port: balancer.port("db"), path: "/content/big?size=\(64 << 20)",
                                      timeout: .seconds(10)) { _, total in
            if !returned && total >= 1 << 20 {
                primary.resume()
                try balancer.waitForState("up", service: "db", backend: "primary")
                returned = true
            }
        }
        #expect(held.header("X-Backend") == "partner")
        #expect(held.complete, "the backup's connection was cut: \(held.cut ?? "?")")
        #expect(try balancer.servedBy("db") == "primary")
    }
}
