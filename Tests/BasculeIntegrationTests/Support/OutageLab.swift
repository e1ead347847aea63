import BasculeBackendService
import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// deploy/lab/outage-lab.sh: a client (cl), a balancer (lb) and backend hosts (b1, b2, b3) in
/// namespaces of their own on one bridge, 192.0.2.0/24 only. A host can be black-holed or
/// have its link taken down, which no loopback test can do: nothing answers, not even a reset.
/// Removed by `stop()` or when released.
final class OutageLab {
    static let script = ScaleOutLab.repository + "/deploy/lab/outage-lab.sh"

    static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "not root (network namespaces need CAP_SYS_ADMIN)" }
        let missing = ["ip", "nft", "curl"].filter { CommandRun.which($0) == nil }
        guard missing.isEmpty else { return "missing \(missing.joined(separator: ", "))" }
        return nil
    }()

    /// For `.enabled(if:)`: says why when it is false, so a skipped lab is never silent.
    static var isAvailable: Bool {
        if let reason = unavailableReason { print("outages: skipping the namespace lab: \(reason)") }
        return unavailableReason == nil
    }

    static func address(_ node: String) -> String {
        ["cl": "192.0.2.1", "lb": "192.0.2.2", "b1": "192.0.2.11", "b2": "192.0.2.12", "b3": "192.0.2.13"][node]!
    }

    let id: String
    let directory: String
    private var processes: [ManagedProcess] = []
    private var stopped = false

    init() throws {
        id = String(format: "%05x", UInt32.random(in: 0...0xFFFFF))
        directory = NSTemporaryDirectory() + "bascule-outage-\(id)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            _ = try CommandRun.succeeding("/bin/bash", [Self.script, "up", id], timeout: .seconds(30))
        } catch {
            _ = try? CommandRun.run("/bin/bash", [Self.script, "down", id])
            throw error
        }
    }

    deinit { stop() }

    func stop() {
        guard !stopped else { return }
        stopped = true
        for process in processes {
            process.signal(SIGCONT)
            process.terminate(grace: .seconds(2))
        }
        _ = try? CommandRun.run("/bin/bash", [Self.script, "down", id], timeout: .seconds(30))
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// One outage-lab.sh subcommand (blackhole, restore, linkdown, linkup) on a node.
    func fail(_ how: String, _ node: String) throws {
        _ = try CommandRun.succeeding("/bin/bash", [Self.script, how, id, node])
    }

    /// A long-running process in a node's namespace, stopped with the lab.
    func start(_ node: String, _ executable: String, _ arguments: [String]) throws -> ManagedProcess {
        let process = try ManagedProcess(executable: "/bin/bash", arguments: [Self.script, "exec", id, node, executable] + arguments)
        processes.append(process)
        return process
    }

    /// A command in a node's namespace, run to completion.
    func run(_ node: String, _ executable: String, _ arguments: [String], timeout: Duration = .seconds(30)) throws -> CommandRun {
        try CommandRun.run("/bin/bash", [Self.script, "exec", id, node, executable] + arguments, timeout: timeout)
    }

    /// bascule-backend on a backend host, port 8080.
    @discardableResult
    func startBackend(_ node: String) throws -> ManagedProcess {
        let process = try start(node, try TestBinaries.backend(), ["--listen", "\(Self.address(node)):8080", "--name", node])
        try process.waitForLine(containing: "listening on ", timeout: .seconds(15))
        return process
    }

    /// `bascule run` on lb: one service "svc" on 192.0.2.2:8000 over the given backend hosts,
    /// admin on lb's own loopback.
    func startBalancer(backends: [String], service extra: [String: Any]) throws -> ManagedProcess {
        var service: [String: Any] = [
            "name": "svc", "listen": "\(Self.address("lb")):8000", "strategy": "round-robin",
            "connectTimeoutMs": 300, "retries": 2,
            "backends": backends.map { ["name": $0, "address": "\(Self.address($0)):8080"] },
        ]
        for (key, value) in extra { service[key] = value }
        let config: [String: Any] = ["workers": 1, "admin": ["listen": "127.0.0.1:9000"], "services": [service]]
        let path = directory + "/config.json"
        try BalancerProcess.write(config, to: path)
        let process = try start("lb", try TestBinaries.bascule(), ["run", "--config", path, "--log-level", "info"])
        try process.waitForLine(containing: "ready", timeout: .seconds(30))
        return process
    }

    /// An admin GET on the balancer's loopback, from inside its namespace.
    func admin(_ path: String) throws -> String {
        try run("lb", "curl", ["--silent", "--max-time", "2", "http://127.0.0.1:9000\(path)"]).stdout.joined(separator: "\n")
    }

    func metric(_ name: String, _ labels: [String: String] = [:]) throws -> Double {
        var total = 0.0
        for line in try admin("/metrics").split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            if labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }),
               let value = line.split(separator: " ").last.flatMap({ Double($0) }) {
                total += value
            }
        }
        return total
    }

    /// A download by curl in the client namespace, left running: body to `file`, head to
    /// `file.head`.
    func startDownload(path: String, to file: String, limitRate: String? = "20M", resume: Bool = false) throws -> ManagedProcess {
        var arguments = ["--silent", "--show-error", "--max-time", "120", "--output", file, "--dump-header", file + ".head"]
        if let limitRate { arguments += ["--limit-rate", limitRate] }
        if resume { arguments += ["--continue-at", "-"] }
        return try start("cl", "curl", arguments + ["http://\(Self.address("lb")):8000\(path)"])
    }

    /// A response header from a `startDownload` head file.
    func header(_ name: String, of file: String) -> String? {
        let text = (try? String(contentsOfFile: file + ".head", encoding: .utf8)) ?? ""
        return text.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
    }

    static func size(of file: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    static func sha256(of file: String) throws -> String {
        let hasher = SHA256Hasher()
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update([UInt8](chunk))
        }
        return hasher.finalize()
    }
}
