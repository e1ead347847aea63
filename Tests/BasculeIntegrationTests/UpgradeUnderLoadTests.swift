import BasculeBackendService
import BasculeTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A binary upgrade as an operator runs it from a shell: each new `bascule run --takeover`
/// receives the running process's listening sockets over the upgrade socket, serves, and the
/// old process drains and exits 0 — under load, ten times in a row, while the restart-only
/// settings (workers, admin.listen, accessLog) change on the way.
@Suite("Upgrade under load", .serialized, .timeLimit(.minutes(3)))
struct UpgradeUnderLoadTests {
    @Test func replacingTheProcessTenTimesUnderLoadDropsNothing() throws {
        guard let wrk = CommandRun.which("wrk") else {
            print("skipping the upgrade test: no `wrk` on PATH (Debian package wrk)")
            return
        }
        let bascule = try TestBinaries.bascule()
        let (backend1, port1) = try BackendProcess.start(name: "up1")
        let (backend2, port2) = try BackendProcess.start(name: "up2")
        defer {
            _ = backend1.terminate()
            _ = backend2.terminate()
        }
        let directory = NSTemporaryDirectory() + "bascule-upgrade-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/upgrade.sock"
        let configPath = directory + "/config.json"
        let servicePort = try freeLoopbackPort()
        let service: [String: Any] = [
            "name": "web", "listen": "127.0.0.1:\(servicePort)", "drainTimeoutMs": 60_000,
            "backends": [["name": "up1", "address": "127.0.0.1:\(port1)"], ["name": "up2", "address": "127.0.0.1:\(port2)"]],
        ]
        func writeConfig(workers: Int, adminPort: UInt16, accessLog: String?) throws {
            var config: [String: Any] = ["workers": workers, "admin": ["listen": "127.0.0.1:\(adminPort)"], "services": [service]]
            if let accessLog { config["accessLog"] = accessLog }
            try BalancerProcess.write(config, to: configPath)
        }
        func start(takeover: Bool) throws -> ManagedProcess {
            let process = try ManagedProcess(executable: bascule, arguments: [
                "run", "--config", configPath, "--log-level", "info", "--upgrade-socket", socket,
            ] + (takeover ? ["--takeover"] : []))
            _ = try process.waitForLine(containing: "ready", timeout: .seconds(30))
            return process
        }
        func status(_ adminPort: UInt16) throws -> [String: Any] {
            let response = try TestHTTPClient().get(port: adminPort, path: "/status")
            return try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
        }
        func accepted(_ document: [String: Any]) -> Int {
            ((document["services"] as? [[String: Any]])?.first?["connectionsAccepted"] as? Int) ?? 0
        }

        var adminPort = try freeLoopbackPort()
        try writeConfig(workers: 2, adminPort: adminPort, accessLog: nil)
        var current = try start(takeover: false)
        let first = current
        let before = try status(adminPort)["handover"] as? [String: Any]
        #expect(before?["state"] as? String == "ready")
        #expect(before?["upgradeSocket"] as? String == socket)

        // The same load without upgrades first, for the latency the upgrades are compared with.
        let url = "http://127.0.0.1:\(servicePort)/whoami"
        func load(_ seconds: Int, close: Bool) throws -> ManagedProcess {
            try ManagedProcess(executable: wrk, arguments: ["-t1", "-c4", "-d\(seconds)s", "--latency", "--timeout", "5s"]
                               + (close ? ["-H", "Connection: close"] : []) + [url])
        }
        let quietClose = try load(3, close: true)
        let quietKeepAlive = try load(3, close: false)
        #expect(quietClose.waitForExit(timeout: .seconds(30)) == 0)
        #expect(quietKeepAlive.waitForExit(timeout: .seconds(30)) == 0)
        let quiet = (close: LoadFigures(quietClose.text), keepAlive: LoadFigures(quietKeepAlive.text))

        // A 100 MiB download that starts on the first process and is held (the reader waits)
        // until that process has handed over: it must finish there, byte for byte.
        let handedOver = Atomic<Bool>(false)
        let downloadOpen = Atomic<Bool>(false)
        let digest = Mutex<String?>(nil)
        let downloadError = Mutex<String?>(nil)
        let size: UInt64 = 100 << 20
        let downloader = TestThread {
            do {
                let hasher = SHA256Hasher()
                var received: UInt64 = 0
                let result = try TestHTTPClient(timeout: .seconds(60)).download(port: servicePort, path: "/content/upgrade?size=100M") { chunk in
                    hasher.update(chunk)
                    received += UInt64(chunk.count)
                    if received >= 1 << 20 && !handedOver.load(ordering: .acquiring) {
                        downloadOpen.store(true, ordering: .releasing)
                        while !handedOver.load(ordering: .acquiring) { usleep(5_000) }
                    }
                }
                if result.bytesReceived != size { downloadError.withLock { $0 = "received \(result.bytesReceived) bytes" } }
                digest.withLock { $0 = hasher.finalize() }
            } catch {
                downloadError.withLock { $0 = "\(error)" }
            }
        }
        try waitUntil("the download is open on the first process", timeout: .seconds(20)) {
            downloadOpen.load(ordering: .acquiring) || downloadError.withLock { $0 } != nil
        }

        // The load spans the ten rounds below however long they take (each waits for the new
        // process to take a thousand connections: about a second alone, several while the
        // namespace labs share the cores): it is stopped with SIGINT after the last round, on
        // which wrk stops and reports as at the end of its duration. 120 s only bounds it.
        let closeLoad = try load(120, close: true)
        let keepAliveLoad = try load(120, close: false)
        let loadStarted = ContinuousClock.now
        try waitUntil("the load reaches the first process", timeout: .seconds(10)) { accepted(try status(adminPort)) > 50 }

        // Ten replacements: workers 2 -> 3 (a socket opened fresh) -> 1 (surplus sockets served
        // on) -> 2; admin.listen moves once; the access log appears half-way.
        let accessLog = directory + "/access.log"
        let plan: [(workers: Int, newAdmin: Bool, accessLog: Bool)] = [
            (2, false, false), (3, false, false), (3, false, false), (1, false, false), (1, true, false),
            (2, false, true), (2, false, true), (2, false, true), (2, false, true), (2, false, true),
        ]
        var retired: [ManagedProcess] = []
        var takeoverMs: [Int] = []
        var readyMs: [Int] = []
        for (round, step) in plan.enumerated() {
            let oldAdminPort = adminPort
            if step.newAdmin { adminPort = try freeLoopbackPort() }
            try writeConfig(workers: step.workers, adminPort: adminPort, accessLog: step.accessLog ? accessLog : nil)
            let old = current
            let oldOutput = old.lineCount
            // An old process with no connection left exits at once; one idle keep-alive
            // connection keeps it draining while its /status is read on its own admin address.
            let held = step.newAdmin ? try TestHTTPClient().connect(port: servicePort) : nil
            if let held { #expect(try held.get("/whoami").status == 200) }
            let started = ContinuousClock.now
            current = try start(takeover: true)
            readyMs.append(Int((ContinuousClock.now - started) / .milliseconds(1)))
            try old.waitForLine(containing: "the successor serves", after: oldOutput, timeout: .seconds(10))
            retired.append(old)
            if round == 0 { handedOver.store(true, ordering: .releasing) }

            if round == 3 {
                // 3 sockets, 1 worker: the surplus is served (or, with tcp_migrate_req=1, closed).
                #expect(current.lines.contains { $0.text.contains("the surplus stays open") || $0.text.contains("closing the surplus sockets") }, "\(current.recentOutput())")
            }
            let handover = try status(adminPort)["handover"] as? [String: Any] ?? [:]
            #expect(handover["role"] as? String == "new", "round \(round)")
            #expect(handover["peerPid"] as? Int == Int(old.pid), "round \(round)")
            takeoverMs.append(handover["takeoverMs"] as? Int ?? -1)
            if step.newAdmin {
                // The admin address moved: the old process keeps its own, and shows its side.
                let oldSide = try status(oldAdminPort)["handover"] as? [String: Any] ?? [:]
                #expect(oldSide["role"] as? String == "old")
                #expect(oldSide["state"] as? String == "draining")
                #expect(oldSide["peerPid"] as? Int == Int(current.pid))
                held?.close()
            }
            #expect(!closeLoad.hasExited, "round \(round): the load must still run")
            try waitUntil("round \(round): the new process takes connections", timeout: .seconds(30)) {
                accepted(try status(adminPort)) >= 1000
            }
        }
        let metrics = String(decoding: try TestHTTPClient().get(port: adminPort, path: "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("\nbascule_workers 2\n"))
        #expect(metrics.contains("bascule_handovers_total{role=\"new\",result=\"success\"} 1\n"))

        closeLoad.signal(SIGINT)
        keepAliveLoad.signal(SIGINT)
        let loadSeconds = ((ContinuousClock.now - loadStarted) / .milliseconds(100)).rounded() / 10
        #expect(closeLoad.waitForExit(timeout: .seconds(30)) == 0)
        #expect(keepAliveLoad.waitForExit(timeout: .seconds(30)) == 0)
        downloader.join()
        let during = (close: LoadFigures(closeLoad.text), keepAlive: LoadFigures(keepAliveLoad.text))
        #expect(downloadError.withLock { $0 } == nil, "\(downloadError.withLock { $0 } ?? "")")
        #expect(digest.withLock { $0 } == ContentGenerator(name: "upgrade").sha256(size: size))
        for report in [during.close.report, during.keepAlive.report] {
            #expect(report.requests > 500)
            #expect(report.connect == 0 && report.read == 0 && report.write == 0 && report.timeout == 0)
            #expect(report.non2xx == 0)
        }
        // With the load gone, every old process has drained: each exits 0.
        for (round, old) in retired.enumerated() {
            #expect(old.waitForExit(timeout: .seconds(30)) == 0, "old process of round \(round): \(old.recentOutput(limit: 10))")
        }
        #expect(first.lines.contains { $0.text.contains("drained: every connection finished") })
        try waitUntil("the last process sees its predecessor gone", timeout: .seconds(10)) {
            (try status(adminPort)["handover"] as? [String: Any])?["state"] as? String == "complete"
        }
        let lastDrainMs = (try status(adminPort)["handover"] as? [String: Any])?["oldDrainMs"] as? Int
        // The first process held the 100 MiB download: its drain, from its own log's timestamps.
        let firstDrainMs = Self.millisecondsBetween(first, "the successor serves", "drained: every connection finished")
        let lines = (try? String(contentsOfFile: accessLog, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(lines > 100, "the access log set by a handover is written")
        #expect(current.terminate() == 0)
        print("""
            upgrade under load: 10 handovers; takeover (connect -> serving) ms \(takeoverMs); process start -> ready ms \(readyMs); last old process drained in \(lastDrainMs.map { "\($0) ms" } ?? "?"), the first (download + keep-alive) in \(firstDrainMs.map { "\($0) ms" } ?? "?")
              without upgrades (3 s):  close \(quiet.close.summary); keep-alive \(quiet.keepAlive.summary)
              with 10 upgrades (\(loadSeconds) s): close \(during.close.summary); keep-alive \(during.keepAlive.summary)
            """)
    }
}

extension UpgradeUnderLoadTests {
    /// Between the `ts=` of the first lines containing `from` and `to` (logfmt, UTC ms).
    fileprivate static func millisecondsBetween(_ process: ManagedProcess, _ from: String, _ to: String) -> Int? {
        func stamp(_ text: String) -> Int? {
            guard let line = process.lines.first(where: { $0.text.contains(text) })?.text,
                  let match = line.firstMatch(of: /ts=\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d)\.(\d{3})Z/),
                  let h = Int(match.1), let m = Int(match.2), let s = Int(match.3), let ms = Int(match.4) else { return nil }
            return ((h * 60 + m) * 60 + s) * 1000 + ms
        }
        guard let start = stamp(from), let end = stamp(to) else { return nil }
        return end - start
    }
}

extension ManagedProcess {
    fileprivate var text: String { lines.map(\.text).joined(separator: "\n") }
}

/// What one wrk run printed: its counts, and the 99th percentile of `--latency`.
private struct LoadFigures {
    let report: WrkReport
    let p99Ms: Double?

    init(_ output: String) {
        report = WrkReport(output)
        var p99: Double?
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 2, words[0] == "99%" else { continue }
            for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where words[1].hasSuffix(unit) {
                p99 = Double(words[1].dropLast(unit.count)).map { $0 * scale }
                break
            }
        }
        p99Ms = p99
    }

    var summary: String {
        "\(report.requests) requests, errors \(report.connect + report.read + report.write + report.timeout), "
            + "non-2xx \(report.non2xx), p99 \(p99Ms.map { "\($0) ms" } ?? "?")"
    }
}
