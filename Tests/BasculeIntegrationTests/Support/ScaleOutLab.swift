import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One run of deploy/lab/lab.sh `up`: a client, a router, Bascule nodes and backends in network
/// namespaces of their own (documentation-range addresses only). `stop()` (also run when
/// released) tears it down: SIGTERM to `up`, whose trap kills every lab process and deletes the
/// namespaces, then `lab.sh down --id` in case `up` could not. If the test runner is killed
/// outright, the kernel sends `up` SIGTERM (its death signal), and the same trap tears the lab
/// down at once; SIGKILL, the default for test children, left the namespaces and their daemons
/// running with nobody to remove them. `up` also watches this process (`--parent`).
final class ScaleOutLab {
    enum Mode: String { case vrrp, ecmp }

    static let repository: String = {
        // Tests/BasculeIntegrationTests/Support/ScaleOutLab.swift → the repository.
        var path = "\(#filePath)"
        for _ in 0..<4 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()
    static let script = repository + "/deploy/lab/lab.sh"

    /// Why the lab cannot run here, or nil. Namespaces need root; the daemons must be installed
    /// (.ci/run installs them).
    static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "not root (network namespaces need CAP_SYS_ADMIN)" }
        let tools = ["ip", "keepalived", "bird", "birdc", "nft", "curl", "python3", "envsubst"]
        let missing = tools.filter { CommandRun.which($0) == nil }
        guard missing.isEmpty else { return "missing \(missing.joined(separator: ", ")) (.ci/run installs them)" }
        return NamespaceProbe.unavailableReason(prefix: "bscprobe")
    }()

    /// For `.enabled(if:)`: says why when it is false, so a skipped lab is never silent.
    static var isAvailable: Bool {
        if let reason = unavailableReason { print("scale-out: skipping the namespace lab: \(reason)") }
        return unavailableReason == nil
    }

    let mode: Mode
    let id: String
    /// The lab's state directory: rendered configs, logs (logs/NODE.PROCESS.log, access logs).
    let directory: String
    private let up: ManagedProcess
    private var stopped = false
    /// Released by `stop()`: the next lab may start once this one's namespaces are gone.
    private var turn: LabTurn?

    init(_ mode: Mode, _ options: [String] = []) async throws {
        turn = try await LabTurn.take()
        self.mode = mode
        let binaries = (try TestBinaries.bascule() as NSString).deletingLastPathComponent
        up = try ManagedProcess(executable: "/bin/bash",
                                arguments: [Self.script, "up", mode.rawValue, "--bin", binaries,
                                            "--parent", "\(getpid())", "--ttl", "300"] + options,
                                deathSignal: SIGTERM)
        let line = try up.waitForLine(containing: "lab ready", timeout: .seconds(90))
        func field(_ name: String) -> String? {
            line.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        guard let id = field("id"), let directory = field("dir") else {
            throw ManagedProcess.Failure(description: "unparsable readiness line from lab.sh: \(line)")
        }
        self.id = id
        self.directory = directory
    }

    deinit { stop() }

    func stop() {
        guard !stopped else { return }
        stopped = true
        up.terminate(grace: .seconds(20))
        _ = try? CommandRun.run("/bin/bash", [Self.script, "down", "--id", id], timeout: .seconds(20))
        turn = nil
    }

    /// `up`'s own output, for failure messages.
    func output() -> String { up.recentOutput() }

    /// One lab.sh subcommand for this lab; its stdout lines. Throws on a non-zero exit.
    @discardableResult
    func run(_ subcommand: String, _ arguments: [String], timeout: Duration = .seconds(30)) throws -> [String] {
        try CommandRun.succeeding("/bin/bash", [Self.script, subcommand, "--id", id] + arguments, timeout: timeout).stdout
    }

    /// A command in one of the lab's namespaces (cl, rt, be, n1, n2...).
    @discardableResult
    func exec(_ node: String, _ command: String...) throws -> [String] {
        try run("exec", [node] + command)
    }

    /// Signals a lab process: bascule, keepalived, bird or announce on a node; b1, b2... on be.
    func signal(_ node: String, _ process: String, _ signal: String) throws {
        try run("signal", [node, process, signal])
    }

    /// Whether a lab process is still alive (signal 0).
    func isRunning(_ node: String, _ process: String) -> Bool {
        (try? CommandRun.run("/bin/bash", [Self.script, "signal", "--id", id, node, process, "0"]).status) == 0
    }

    /// `bascule ctl ARGS` against a node's admin endpoint.
    @discardableResult
    func ctl(_ node: String, _ arguments: String...) throws -> [String] {
        try run("ctl", [node] + arguments)
    }

    /// The node holding the virtual address (vrrp), or "none".
    func vipHolder() throws -> String {
        try run("vip", []).first ?? "none"
    }

    /// Next hops of the router's route to the service address (ecmp); 0 when there is none.
    func nexthops(family: Int) throws -> Int {
        try run("route", ["\(family)"]).filter { $0.contains("via") }.count
    }

    /// An admin GET on a node: status and body.
    func admin(_ node: String, _ path: String) throws -> (status: Int, body: String) {
        let lines = try exec(node, "curl", "--silent", "--max-time", "2", "--write-out", "\n%{http_code}",
                             "http://127.0.0.1:9000\(path)")
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// Sum of a metric's samples on a node whose labels contain every given pair.
    func metric(_ node: String, _ name: String, _ labels: [String: String] = [:]) throws -> Double {
        var total = 0.0
        for line in try admin(node, "/metrics").body.split(separator: "\n")
        where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            if labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }),
               let value = line.split(separator: " ").last.flatMap({ Double($0) }) {
                total += value
            }
        }
        return total
    }

    /// A backend's state in a node's /status ("up", "down", ...).
    func backendState(_ node: String, service: String, backend: String) throws -> String? {
        let body = try admin(node, "/status").body
        let status = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let services = status?["services"] as? [[String: Any]] ?? []
        let backends = services.first { $0["name"] as? String == service }?["backends"] as? [[String: Any]] ?? []
        return backends.first { $0["name"] as? String == backend }?["state"] as? String
    }

    /// A node's access log, one object per finished connection.
    func accessLog(_ node: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: "\(directory)/logs/\(node).access.log", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// deploy/lab/clients.py in the client namespace, left running (loop, download).
    func startClients(_ arguments: [String]) throws -> ManagedProcess {
        try ManagedProcess(executable: "/bin/bash", arguments: [Self.script, "clients", "--id", id] + arguments)
    }

    /// deploy/lab/clients.py run to completion; its last JSON line.
    func clients(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> [String: Any] {
        let lines = try run("clients", arguments, timeout: timeout)
        guard let last = lines.last,
              let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw ManagedProcess.Failure(description: "clients.py printed no JSON: \(lines.suffix(5))")
        }
        return object
    }
}
