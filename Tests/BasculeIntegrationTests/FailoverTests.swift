import BasculeBackendService
import BasculeTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The high-availability validation (issue 4): backends killed in the middle of a streaming
/// download, of a publishing refresh and under load; a primary failing over to its partner.
@Suite("Failover when a backend dies", .serialized, .timeLimit(.minutes(3)))
struct FailoverTests {
    @Test func killingTheServingBackendMidDownloadResumesOnASurvivor() throws {
        let pool = try startPool("pub", count: 3)
        let balancer = try BalancerProcess(services: [serviceConfig("publishing", backends: pool.map { $0.config() })])
        let port = balancer.port("publishing")
        let size: UInt64 = 200 << 20
        let path = "/content/pkg?size=\(size)"
        let hasher = SHA256Hasher()

        var servedBy: String?
        var killedAt: UInt64?
        let first = try streamDownload(port: port, path: path, timeout: .seconds(30),
                                       onHead: { _, headers in
                                           servedBy = headers.first { $0.name.lowercased() == "x-backend" }?.value
                                       }) { chunk, total in
            hasher.update(chunk)
            if killedAt == nil && total >= 50 << 20 {
                guard let victim = pool.first(where: { $0.name == servedBy }) else {
                    throw TestHTTPError(description: "download served by \(servedBy ?? "nobody"), not a pool backend")
                }
                try victim.kill()
                killedAt = total
            }
        }
        #expect(first.status == 200)
        let victim = try #require(servedBy)
        #expect(killedAt != nil, "the download ended before 50 MiB: \(first)")
        #expect(first.cut != nil, "the download was not cut by the kill")
        #expect(first.bytesReceived < size)

        let tail = try streamDownload(port: port, path: path, headers: [("Range", "bytes=\(first.bytesReceived)-")],
                                      timeout: .seconds(30)) { chunk, _ in hasher.update(chunk) }
        #expect(tail.status == 206)
        #expect(tail.header("Content-Range") == "bytes \(first.bytesReceived)-\(size - 1)/\(size)")
        let survivor = try #require(tail.header("X-Backend"))
        #expect(survivor != victim)
        #expect(pool.contains { $0.name == survivor })
        #expect(tail.complete, "the resumed download was cut: \(tail.cut ?? "?")")
        #expect(first.bytesReceived + tail.bytesReceived == size)
        #expect(hasher.finalize() == ContentGenerator(name: "pkg").sha256(size: size))
        print("mid-stream failover: \(victim) killed after \(killedAt ?? 0) bytes, client had \(first.bytesReceived); "
              + "resumed on \(survivor)")
        try balancer.waitForState("down", service: "publishing", backend: victim)
    }

    @Test func killingABackendMidRefreshFailsNoNewConnection() throws {
        let pool = try startPool("pub", count: 3)
        let check = healthCheckConfig("http", intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2)
        let balancer = try BalancerProcess(services: [
            serviceConfig("publishing", retries: 2, healthCheck: check, backends: pool.map { $0.config() }),
        ])
        let victim = pool[1]
        let recorder = RefreshRecorder()
        let port = balancer.port("publishing")
        let thread = Thread { recorder.run(port: port) }
        thread.start()
        defer {
            recorder.stop.store(true, ordering: .relaxed)
            try? waitUntil("refresh loop ended", timeout: .seconds(15)) { recorder.finished.load(ordering: .acquiring) }
        }

        try waitUntil("\(victim.name) served 20 refreshes", timeout: .seconds(20)) {
            recorder.served(by: victim.name) >= 20
        }
        let killSent = ContinuousClock.now
        try victim.kill()
        let killReaped = ContinuousClock.now
        let detection = try balancer.waitForState("down", service: "publishing", backend: victim.name,
                                                  timeout: .seconds(10), poll: .milliseconds(5)) + (killReaped - killSent)
        let detectedAt = ContinuousClock.now
        // Keep refreshing for a second after the detection, then stop (the loop is bounded anyway).
        try waitUntil("refreshes after the detection", timeout: .seconds(10)) {
            recorder.finished.load(ordering: .acquiring) || ContinuousClock.now - detectedAt > .seconds(1)
        }
        recorder.stop.store(true, ordering: .relaxed)
        try waitUntil("refresh loop ended", timeout: .seconds(15)) { recorder.finished.load(ordering: .acquiring) }

        let results = recorder.results.withLock { $0 }
        let boundMs = 200 * 2 + 150
        let reason = try balancer.backendStatus(service: "publishing", backend: victim.name)?["lastChangeReason"] as? String
        let cut = results.filter { $0.firstError != nil }
        let failedNew = cut.filter { $0.startedAt >= killReaped }
        let failedAfterRetry = results.filter { $0.retryError != nil }
        let victimAfterDetection = results.filter { $0.startedAt > detectedAt && $0.backend == victim.name }
        print("mid-refresh failover: \(results.count) refreshes, \(victim.name) down after \(detection.milliseconds) ms "
              + "(bound intervalMs x fall + timeoutMs = \(boundMs) ms; reason: \(reason ?? "?")); "
              + "first attempts cut: \(cut.count), failed new connections: \(failedNew.count), failed after one retry: \(failedAfterRetry.count)")

        #expect(results.count >= 100)
        #expect(results.contains { $0.startedAt > detectedAt }, "no refresh ran after the detection")
        #expect(failedAfterRetry.isEmpty, "refreshes that failed even when retried: \(failedAfterRetry.prefix(5))")
        #expect(failedNew.isEmpty, "new connections that failed after the kill: \(failedNew.prefix(5))")
        #expect(cut.count <= 1, "more than the one in-flight refresh was cut: \(cut.prefix(5))")
        #expect(victimAfterDetection.isEmpty)
        // Generous slack: two noisy cores, and the test polls /status.
        #expect(detection < .milliseconds(boundMs + 2000), "detection took \(detection)")
    }

    @Test func killingThePrimarySendsNewConnectionsToItsPartnerUntilItReturns() throws {
        let mgmt1 = try PoolBackend(name: "mgmt1", role: .management)
        let mgmt2 = try PoolBackend(name: "mgmt2", role: .management)
        let balancer = try BalancerProcess(services: [
            serviceConfig("management", strategy: "source-hash", retries: 2, healthCheck: healthCheckConfig("tcp"),
                          backends: [mgmt1.config(), mgmt2.config(backup: true)]),
        ])
        for _ in 0..<10 { #expect(try balancer.servedBy("management") == "mgmt1") }

        try mgmt1.kill()
        // Before the balancer has noticed, the retry must already find the partner.
        let beforeDetection = Result { try balancer.servedBy("management") }
        let detection = try balancer.waitForState("down", service: "management", backend: "mgmt1")
        #expect((try? beforeDetection.get()) == "mgmt2", "first connection after the kill: \(beforeDetection)")
        for _ in 0..<10 { #expect(try balancer.servedBy("management") == "mgmt2") }

        try mgmt1.restart()
        let recovery = try balancer.waitForState("up", service: "management", backend: "mgmt1")
        for _ in 0..<10 { #expect(try balancer.servedBy("management") == "mgmt1") }
        print("failover partner: mgmt1 down \(detection.milliseconds) ms after the kill (polling from the kill), "
              + "back \(recovery.milliseconds) ms after its restart")
    }

    @Test func killingABackendUnderLoadShowsNoConnectErrorsOrBadStatuses() throws {
        guard let wrk = CommandRun.which("wrk") else {
            print("skipping the wrk test: no `wrk` on PATH (Debian package wrk)")
            return
        }
        let pool = try startPool("pub", count: 3)
        let balancer = try BalancerProcess(services: [serviceConfig("publishing", retries: 2, backends: pool.map { $0.config() })])
        let victim = pool[2]
        // A new connection per request, like the refresh client: each connection after the
        // kill must be retried onto a survivor; only requests in flight on the victim can be cut.
        let load = try ManagedProcess(executable: wrk, arguments: [
            "-t1", "-c20", "-d4s", "-H", "Connection: close", "http://127.0.0.1:\(balancer.port("publishing"))/",
        ])
        try waitUntil("\(victim.name) under load", timeout: .seconds(10)) {
            (try balancer.backendStatus(service: "publishing", backend: victim.name)?["totalConnections"] as? Int ?? 0) >= 200
        }
        try victim.kill()
        let detection = try balancer.waitForState("down", service: "publishing", backend: victim.name)
        guard load.waitForExit(timeout: .seconds(30)) == 0 else {
            Issue.record("wrk failed: \(load.recentOutput())")
            return
        }
        let output = load.lines.map(\.text).joined(separator: "\n")
        let report = WrkReport(output)
        print("wrk under a kill (-c20, Connection: close): \(report.requests) requests; socket errors connect \(report.connect), "
              + "read \(report.read), write \(report.write), timeout \(report.timeout); non-2xx \(report.non2xx); "
              + "\(victim.name) down after \(detection.milliseconds) ms\n\(output)")
        #expect(report.requests > 100)
        #expect(report.connect == 0)
        #expect(report.timeout == 0)
        #expect(report.non2xx == 0)
        // At most the requests in flight on the victim at the kill: one per connection.
        #expect(report.read + report.write <= 20)
    }
}

/// A publishing refresh loop on its own thread: `GET /` on a new connection each time, a cut
/// request retried once, every outcome recorded with when it started.
final class RefreshRecorder: Sendable {
    struct Outcome: Sendable, CustomStringConvertible {
        let startedAt: ContinuousClock.Instant
        var backend: String?
        var firstError: String?
        var retryError: String?

        var description: String { "\(backend ?? "-"): \(firstError ?? "ok") / retry \(retryError ?? "ok")" }
    }

    let results = Mutex<[Outcome]>([])
    let stop = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)

    func served(by backend: String) -> Int {
        results.withLock { $0.filter { $0.backend == backend }.count }
    }

    func run(port: UInt16) {
        defer { finished.store(true, ordering: .releasing) }
        let started = ContinuousClock.now
        var count = 0
        while !stop.load(ordering: .relaxed) && count < 5000 && ContinuousClock.now - started < .seconds(30) {
            count += 1
            var outcome = Outcome(startedAt: .now)
            do {
                outcome.backend = try Self.refresh(port: port)
            } catch {
                outcome.firstError = "\(error)"
                do {
                    outcome.backend = try Self.refresh(port: port)
                } catch {
                    outcome.retryError = "\(error)"
                }
            }
            results.withLock { $0.append(outcome) }
        }
    }

    private static func refresh(port: UInt16) throws -> String {
        let response = try TestHTTPClient(timeout: .seconds(5)).get(port: port, path: "/")
        guard response.status == 200, !response.body.isEmpty, let backend = response.header("X-Backend") else {
            throw TestHTTPError(description: "GET / answered \(response.status) with \(response.body.count) bytes")
        }
        return backend
    }
}

/// The figures wrk prints (error lines appear only when nonzero).
struct WrkReport {
    var requests = 0
    var connect = 0, read = 0, write = 0, timeout = 0
    var non2xx = 0

    init(_ output: String) {
        for line in output.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.contains("requests in"), let count = Int(line.split(separator: " ").first ?? "") {
                requests = count
            } else if line.hasPrefix("Socket errors:") {
                for part in line.dropFirst("Socket errors:".count).split(separator: ",") {
                    let words = part.split(separator: " ")
                    guard words.count == 2, let value = Int(words[1]) else { continue }
                    switch words[0] {
                    case "connect": connect = value
                    case "read": read = value
                    case "write": write = value
                    case "timeout": timeout = value
                    default: break
                    }
                }
            } else if line.hasPrefix("Non-2xx or 3xx responses:") {
                non2xx = Int(line.split(separator: " ").last ?? "") ?? 0
            }
        }
    }
}
