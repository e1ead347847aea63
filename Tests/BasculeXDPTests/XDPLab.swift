import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One run of Benchmarks/xdp/topology.sh: client, router, balancer and three backends in
/// network namespaces of their own (documentation-range addresses only), a responder on each
/// backend (Benchmarks/xdp/responder.py), and Bascule on the balancer once `startBascule` is
/// called. `stop()` (also run when released) ends every process it started and deletes the
/// namespaces.
final class XDPLab {
    static let repository: String = {
        // Tests/BasculeXDPTests/XDPLab.swift → the repository.
        var path = "\(#filePath)"
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()
    static let labDirectory = repository + "/Benchmarks/xdp"

    /// Why the lab cannot run here, or nil: namespaces need root, the BPF program needs a
    /// kernel with BPF and XDP, the scripts need ip, python3 and clang.
    static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "not root (network namespaces and BPF need CAP_SYS_ADMIN)" }
        let missing = ["ip", "python3", "clang", "curl"].filter { CommandRun.which($0) == nil }
        guard missing.isEmpty else { return "missing \(missing.joined(separator: ", "))" }
        guard access("/sys/fs/bpf", F_OK) == 0 || access("/proc/sys/net/core/bpf_jit_enable", F_OK) == 0 else {
            return "this kernel has no BPF"
        }
        return NamespaceProbe.unavailableReason(prefix: "bxprobe")
    }()

    /// For `.enabled(if:)`: says why when it is false, so a skipped lab is never silent.
    static var isAvailable: Bool {
        if let reason = unavailableReason { print("xdp: skipping the namespace lab: \(reason)") }
        return unavailableReason == nil
    }

    static let vip4 = "192.0.2.10", vip6 = "2001:db8:f::10"
    /// The backends' own addresses, by name, as the configuration lists them.
    static let backends4 = [("b1", "198.51.100.6"), ("b2", "198.51.100.10"), ("b3", "198.51.100.14")]
    static let backends6 = [("b1", "2001:db8:11::2"), ("b2", "2001:db8:12::2"), ("b3", "2001:db8:13::2")]
    static let adminPort = 9900

    let prefix: String
    let clientCount: Int
    private var responders: [String: ManagedProcess] = [:]
    private(set) var bascule: ManagedProcess?
    private let configPath: String
    private var stopped = false
    /// Released by `stop()`: the next lab may start once this one's namespaces are gone.
    private var turn: LabTurn?

    init(clients: Int = 200) async throws {
        turn = try await LabTurn.take()
        prefix = "bx\(getpid() % 100_000)"
        clientCount = clients
        configPath = NSTemporaryDirectory() + "/\(prefix)-xdp-config.json"
        let binary = try TestBinaries.bascule()
        Self.removeStaleLabs()
        _ = try? CommandRun.run("/bin/bash", [Self.labDirectory + "/topology.sh", "down", prefix], timeout: .seconds(30))
        let up = try CommandRun.run("/usr/bin/env", ["BASCULE=\(binary)", "/bin/bash", Self.labDirectory + "/topology.sh",
                                                     "up", prefix, "\(clients)"], timeout: .seconds(90))
        guard up.status == 0 else {
            stop()
            throw ManagedProcess.Failure(description: "topology.sh up failed:\n\(up.output)")
        }
        do {
            try run(in: "client", ["python3", Self.labDirectory + "/checksum-offload-off.py", "c0"])
            for name in ["b1", "b2", "b3"] { try startResponder(name) }
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// Labs left by a test runner that was killed outright: its processes died with it (their
    /// death signal), but namespaces are not processes, and a new run's prefix (its pid) never
    /// matches the old one. Holding the lab turn, no other lab of this kind is running, so every
    /// `bx<digits>-` namespace is a leftover.
    private static func removeStaleLabs() {
        guard let list = try? CommandRun.run("/usr/sbin/ip", ["netns", "list"], timeout: .seconds(10)) else { return }
        let prefixes = Set(list.output.split(separator: "\n").compactMap { line -> String? in
            let name = line.split(separator: " ").first.map(String.init) ?? ""
            guard let dash = name.firstIndex(of: "-"), name.hasPrefix("bx"),
                  name[name.index(name.startIndex, offsetBy: 2)..<dash].allSatisfy(\.isNumber),
                  dash > name.index(name.startIndex, offsetBy: 2) else { return nil }
            return String(name[..<dash])
        })
        for stale in prefixes.sorted() {
            print("xdp: removing namespaces left by an earlier run (\(stale)-*)")
            _ = try? CommandRun.run("/bin/bash", [labDirectory + "/topology.sh", "down", stale], timeout: .seconds(30))
        }
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        bascule?.terminate(grace: .seconds(10))
        for responder in responders.values { responder.terminate(grace: .seconds(2)) }
        _ = try? CommandRun.run("/bin/bash", [Self.labDirectory + "/topology.sh", "down", prefix], timeout: .seconds(30))
        unlink(configPath)
        turn = nil
    }

    func namespace(_ role: String) -> String { "\(prefix)-\(role)" }

    /// Client source addresses: 203.0.113.2... and 2001:db8:c::2...
    func clients4(_ count: Int) -> [String] { (2..<(2 + min(count, clientCount))).map { "203.0.113.\($0)" } }
    func clients6(_ count: Int) -> [String] { (2..<(2 + min(count, clientCount))).map { "2001:db8:c::\(String($0, radix: 16))" } }

    func startResponder(_ name: String) throws {
        let process = try ManagedProcess(executable: "/usr/sbin/ip",
                                         arguments: ["netns", "exec", namespace(name), "python3", Self.labDirectory + "/responder.py", name, "80"])
        _ = try process.waitForLine(containing: "ready", timeout: .seconds(20))
        responders[name] = process
    }

    func killResponder(_ name: String) {
        responders.removeValue(forKey: name)?.terminate(grace: .seconds(2))
    }

    /// Starts `bascule run` on the balancer with `config` and waits until the program is
    /// attached and the admin endpoint answers.
    @discardableResult
    func startBascule(config: String, expectAttach: Bool = true) throws -> ManagedProcess {
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let process = try ManagedProcess(executable: "/usr/sbin/ip",
                                         arguments: ["netns", "exec", namespace("lb"), try TestBinaries.bascule(), "run", "--config", configPath])
        bascule = process
        if expectAttach {
            _ = try process.waitForLine(containing: "kernel data plane attached", timeout: .seconds(30))
            try waitUntil("the admin endpoint answers", timeout: .seconds(20), poll: .milliseconds(100)) {
                (try? admin("/healthz")) == "ok"
            }
            try waitUntil("every backend is up", timeout: .seconds(20), poll: .milliseconds(100)) {
                let up = try metrics().filter { $0.key.hasPrefix("bascule_backend_up{") }
                return !up.isEmpty && up.values.allSatisfy { $0 == 1 }
            }
        }
        return process
    }

    func stopBascule() {
        bascule?.terminate(grace: .seconds(10))
        bascule = nil
    }

    /// Runs a command in one of the lab's namespaces; its stdout lines. Throws on failure.
    /// Stdout goes through a file, not a pipe: a pipe's last chunk can still be in flight when
    /// the exit is seen on a loaded machine, and a result cut short would read as lost clients
    /// or counters at 0.
    @discardableResult
    func run(in role: String, _ command: [String], timeout: Duration = .seconds(60)) throws -> [String] {
        let file = NSTemporaryDirectory() + "/\(prefix)-out-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(file) }
        _ = try CommandRun.succeeding("/usr/sbin/ip", ["netns", "exec", namespace(role), "/bin/sh", "-c", "exec \"$0\" \"$@\" > \(file)"] + command,
                                  timeout: timeout)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if text.hasSuffix("\n") { lines.removeLast() }
        return lines
    }

    /// Benchmarks/xdp/client.py in the client namespace.
    func client(_ arguments: [String], timeout: Duration = .seconds(120)) throws -> [String] {
        try run(in: "client", ["python3", Self.labDirectory + "/client.py"] + arguments, timeout: timeout)
    }

    /// One request to the balancer's admin endpoint (from inside its namespace).
    func admin(_ path: String) throws -> String {
        try run(in: "lb", ["curl", "-sS", "--max-time", "10", "http://127.0.0.1:\(Self.adminPort)\(path)"]).joined(separator: "\n")
    }

    /// /metrics as "name{labels}" → value.
    func metrics() throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in try admin("/metrics").split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    func verdict(_ samples: [String: Double], action: String, reason: String) -> Double {
        samples["bascule_xdp_packets_total{interface=\"lb0\",action=\"\(action)\",reason=\"\(reason)\"}"] ?? 0
    }

    /// Packets and bytes the balancer's interface received and sent (the kernel's counters).
    func interfaceCounters() throws -> (rxPackets: Int, rxBytes: Int, txPackets: Int, txBytes: Int) {
        func read(_ name: String) throws -> Int {
            Int(try run(in: "lb", ["cat", "/sys/class/net/lb0/statistics/\(name)"]).first ?? "") ?? -1
        }
        return (try read("rx_packets"), try read("rx_bytes"), try read("tx_packets"), try read("tx_bytes"))
    }

    /// The lab's configuration: the virtual addresses through XDP, and (with `proxyTwins`)
    /// the same pools through the proxy on the balancer's own addresses, port 8080.
    static func configuration(proxyTwins: Bool = true, mode: String = "native") -> String {
        func backends(_ list: [(String, String)], v6: Bool, port: Int) -> String {
            list.map { name, address in
                "{\"name\": \"\(name)\", \"address\": \"\(v6 ? "[\(address)]" : address):\(port)\"" + (port == 80 ? "" : ", \"healthCheck\": {\"port\": 80}") + "}"
            }.joined(separator: ", ")
        }
        // Checks tolerant of a loaded machine (one slow answer is not "down"), still quick
        // enough that a killed backend is out within about two seconds.
        // Checks every second that a loaded machine does not flap (five misses in a row to go
        // down) and that keep the next hop's neighbour entry fresh, as in production; a killed
        // backend refuses at once, so it is out within about five seconds.
        let check = "\"healthCheck\": {\"intervalMs\": 1000, \"timeoutMs\": 1000, \"rise\": 1, \"fall\": 5}"
        var services = [
            "{\"name\": \"web\", \"listen\": \"\(vip4):80\", \"dataPlane\": \"xdp\", \"interface\": \"lb0\", \"xdpMode\": \"\(mode)\", \"protocols\": [\"tcp\", \"udp\"], \(check), \"backends\": [\(backends(backends4, v6: false, port: 80))]}",
            "{\"name\": \"web6\", \"listen\": \"[\(vip6)]:80\", \"dataPlane\": \"xdp\", \"interface\": \"lb0\", \"xdpMode\": \"\(mode)\", \"protocols\": [\"tcp\", \"udp\"], \(check), \"backends\": [\(backends(backends6, v6: true, port: 80))]}",
        ]
        if proxyTwins {
            services.append("{\"name\": \"web-proxy\", \"listen\": \"198.51.100.2:8080\", \"strategy\": \"maglev\", \(check), \"backends\": [\(backends(backends4, v6: false, port: 80))]}")
            services.append("{\"name\": \"web6-proxy\", \"listen\": \"[2001:db8:1::2]:8080\", \"strategy\": \"maglev\", \(check), \"backends\": [\(backends(backends6, v6: true, port: 80))]}")
        }
        return "{\"admin\": {\"listen\": \"127.0.0.1:\(adminPort)\"}, \"services\": [\(services.joined(separator: ", "))]}"
    }
}
