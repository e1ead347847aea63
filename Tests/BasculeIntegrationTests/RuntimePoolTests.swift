import BasculeBackendService
import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Backends added and removed while the balancer runs (`POST /services/{s}/backends`,
/// `DELETE /services/{s}/backends/{b}`, `bascule ctl add-backend` / `remove-backend`), and a
/// reload that makes the file win again.
@Suite("Runtime pool changes", .serialized, .timeLimit(.minutes(3)))
struct RuntimePoolTests {
    /// Requests on fresh connections from a thread until stopped; counts answers per backend.
    final class Load: @unchecked Sendable {
        private let lock = NSLock()
        private var answers: [String: Int] = [:]
        private var failures: [String] = []
        private var stopped = false
        private let done = DispatchSemaphore(value: 0)

        init(port: UInt16) {
            Thread.detachNewThread { [self] in
                while !lock.withLock({ stopped }) {
                    do {
                        let response = try TestHTTPClient().get(port: port, path: "/whoami")
                        let backend = response.header("X-Backend") ?? "?"
                        lock.withLock {
                            if response.status == 200 { answers[backend, default: 0] += 1 } else { failures.append("status \(response.status)") }
                        }
                    } catch {
                        lock.withLock { failures.append("\(error)") }
                    }
                }
                done.signal()
            }
        }

        func count(_ backend: String) -> Int { lock.withLock { answers[backend] ?? 0 } }

        func stop() -> (answers: [String: Int], failures: [String]) {
            lock.withLock { stopped = true }
            done.wait()
            return lock.withLock { (answers, failures) }
        }
    }

    private func ctl(_ arguments: [String]) throws -> (status: Int32?, output: String) {
        let process = try ManagedProcess(executable: try TestBinaries.bascule(), arguments: ["ctl"] + arguments)
        let status = process.waitForExit(timeout: .seconds(20))
        return (status, process.recentOutput(limit: 100))
    }

    private func backends(_ balancer: BalancerProcess, _ service: String) throws -> [[String: Any]] {
        let services = try balancer.status()["services"] as? [[String: Any]] ?? []
        return services.first { $0["name"] as? String == service }?["backends"] as? [[String: Any]] ?? []
    }

    @Test func aBackendAddedUnderLoadTakesTrafficAndAnInvalidOneIsRefusedNamingTheField() throws {
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let (b, portB) = try BackendProcess.start(name: "b")
        defer { b.terminate() }
        let balancer = try BalancerProcess(services: [["name": "publishing", "healthCheck": ["type": "none"],
                                                       "backends": [["name": "a", "address": "127.0.0.1:\(portA)"]]]])
        defer { balancer.process.terminate() }
        let load = Load(port: balancer.port("publishing"))
        try waitUntil("traffic through a") { load.count("a") > 20 }

        // The file's rules, with the path of each bad field.
        let invalid = try balancer.admin("POST", "/services/publishing/backends",
                                         body: Array(#"{"name": "a", "address": "127.0.0.1:notaport", "wieght": 2}"#.utf8))
        #expect(invalid.status == 422)
        #expect(invalid.bodyText.contains(#""path":"$.name""#) && invalid.bodyText.contains("already used"), "\(invalid.bodyText)")
        #expect(invalid.bodyText.contains(#""path":"$.address""#), "\(invalid.bodyText)")
        #expect(invalid.bodyText.contains(#""path":"$.wieght""#) && invalid.bodyText.contains("unknown key"), "\(invalid.bodyText)")
        #expect(try balancer.admin("POST", "/services/nothing/backends", body: Array("{}".utf8)).status == 404)
        let refused = try ctl(["add-backend", "publishing", #"{"name": "x"}"#, "--config", balancer.configPath])
        #expect(refused.status == 1 && refused.output.contains("$.address: missing"), "\(refused.output)")

        let added = try ctl(["add-backend", "publishing", #"{"name": "b", "address": "127.0.0.1:\#(portB)", "weight": 3}"#,
                             "--config", balancer.configPath])
        #expect(added.status == 0 && added.output.contains("publishing/b: added at runtime (up)"), "\(added.output)")
        try waitUntil("the added backend to take traffic") { load.count("b") > 20 }
        let result = load.stop()
        #expect(result.failures.isEmpty, "\(result.failures.prefix(5))")

        let b1 = try #require(try backends(balancer, "publishing").first { $0["name"] as? String == "b" })
        #expect(b1["origin"] as? String == "runtime")
        #expect(b1["weight"] as? Int == 3)
        #expect(try backends(balancer, "publishing").first { $0["name"] as? String == "a" }?["origin"] as? String == "file")
        #expect(try balancer.metric("bascule_runtime_backend_changes_total", ["action": "add"]) == 1)
        #expect(try balancer.metric("bascule_runtime_backend_changes_rejected_total") == 2)
        #expect(try balancer.metric("bascule_runtime_backends_added") == 1)
        // Nothing was written behind the operator's back.
        #expect(!(try String(contentsOfFile: balancer.configPath, encoding: .utf8)).contains("\(portB)"))
    }

    @Test func aRemovedBackendFinishesItsDownloadExactlyWhileNewConnectionsAvoidIt() throws {
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let (b, portB) = try BackendProcess.start(name: "b")
        defer { b.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "publishing", "healthCheck": ["type": "none"], "strategy": "least-connections", "drainTimeoutMs": 60_000,
            "backends": [["name": "a", "address": "127.0.0.1:\(portA)"], ["name": "b", "address": "127.0.0.1:\(portB)"]],
        ]])
        defer { balancer.process.terminate() }
        let port = balancer.port("publishing")

        // A download held open by its reader: it stays on its backend until the test lets it go.
        let size: UInt64 = 64 << 20
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        final class Outcome: @unchecked Sendable { var download: TestDownload?; var error: Error?; var digest = "" }
        let outcome = Outcome()
        Thread.detachNewThread {
            let hasher = SHA256Hasher()
            var first = true
            do {
                outcome.download = try TestHTTPClient(timeout: .seconds(60)).download(port: port, path: "/content/pkg-remove?size=\(size)") { chunk in
                    hasher.update(chunk)
                    if first {
                        first = false
                        started.signal()
                        release.wait()
                    }
                }
            } catch {
                outcome.error = error
            }
            outcome.digest = hasher.finalize()
            finished.signal()
        }
        #expect(started.wait(timeout: .now() + 20) == .success)
        let victim = try #require(try backends(balancer, "publishing").first { ($0["activeConnections"] as? Int ?? 0) == 1 }?["name"] as? String)
        let survivor = victim == "a" ? "b" : "a"

        let removed = try ctl(["remove-backend", "publishing", victim, "--config", balancer.configPath])
        #expect(removed.status == 0 && removed.output.contains("publishing/\(victim): draining"), "\(removed.output)")
        let draining = try #require(try backends(balancer, "publishing").first { $0["name"] as? String == victim })
        #expect(draining["pendingRemoval"] as? Bool == true)
        #expect(draining["state"] as? String == "draining")
        // A second removal of the same backend, and one of the last backend, are refused.
        #expect(try balancer.admin("DELETE", "/services/publishing/backends/\(victim)").status == 409)
        #expect(try balancer.admin("DELETE", "/services/publishing/backends/\(survivor)").status == 409)
        for _ in 0..<20 {
            #expect(try TestHTTPClient().get(port: port, path: "/whoami").header("X-Backend") == survivor)
        }

        release.signal()
        #expect(finished.wait(timeout: .now() + 60) == .success)
        #expect(outcome.error == nil, "\(String(describing: outcome.error))")
        #expect(outcome.download?.complete == true)
        #expect(outcome.download?.bytesReceived == size)
        #expect(outcome.digest == ContentGenerator(name: "pkg-remove").sha256(size: size))

        // Its connections have ended: it is gone, long before the drain timeout.
        try waitUntil("the drained backend to be removed") {
            try backends(balancer, "publishing").map { $0["name"] as? String } == [survivor]
        }
        let service = try #require((try balancer.status()["services"] as? [[String: Any]])?.first)
        #expect(service["removedAtRuntime"] as? [String] == [victim])
        #expect(try balancer.metric("bascule_runtime_backend_changes_total", ["action": "remove"]) == 1)
        #expect(try balancer.metric("bascule_runtime_backend_removals_pending") == 0)
        #expect(try balancer.metric("bascule_runtime_backend_removals_timed_out_total") == 0)
    }

    @Test func aReloadMakesTheFileWinAndSaysWhatItUndid() throws {
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let (b, portB) = try BackendProcess.start(name: "b")
        defer { b.terminate() }
        let (c, portC) = try BackendProcess.start(name: "c")
        defer { c.terminate() }
        let balancer = try BalancerProcess(services: [[
            "name": "publishing", "healthCheck": ["type": "none"],
            "backends": [["name": "a", "address": "127.0.0.1:\(portA)"], ["name": "b", "address": "127.0.0.1:\(portB)"]],
        ]])
        defer { balancer.process.terminate() }

        #expect(try balancer.admin("POST", "/services/publishing/backends",
                                   body: Array(#"{"name": "c", "address": "127.0.0.1:\#(portC)"}"#.utf8)).status == 201)
        #expect(try balancer.admin("DELETE", "/services/publishing/backends/b").status == 202)
        try waitUntil("b to be removed") {
            try backends(balancer, "publishing").compactMap { $0["name"] as? String } == ["a", "c"]
        }
        let before = try #require(try balancer.status()["runtimeChanges"] as? [String: Any])
        #expect(before["differsFromFile"] as? Bool == true)

        balancer.process.signal(SIGHUP)
        _ = try balancer.process.waitForLine(containing: "reload: the file wins; undid 2 runtime changes")
        #expect(try backends(balancer, "publishing").compactMap { $0["name"] as? String } == ["a", "b"])
        #expect(try backends(balancer, "publishing").allSatisfy { $0["origin"] as? String == "file" })
        let after = try #require(try balancer.status()["runtimeChanges"] as? [String: Any])
        #expect(after["differsFromFile"] as? Bool == false)
        let undid = after["lastReloadUndid"] as? [String] ?? []
        #expect(undid.count == 2)
        #expect(undid.contains { $0.hasPrefix("publishing/c: added at runtime, not in the file") }, "\(undid)")
        #expect(undid.contains { $0.hasPrefix("publishing/b: removed at runtime; the file brings it back") }, "\(undid)")
        #expect(try balancer.metric("bascule_reload_runtime_changes_undone_total") == 2)
        #expect(try balancer.metric("bascule_runtime_backends_added") == 0)
        // b serves again.
        try waitUntil("b to answer through the balancer") {
            try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami").header("X-Backend") == "b"
        }
    }
}
