import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A network namespace of the test's own with a real DNS server in it: dnsmasq on 127.0.0.1:53
/// serving the names of a hosts file with a TTL of 1 s, and /etc/netns/NAME/resolv.conf naming
/// it, which `ip netns exec` mounts over /etc/resolv.conf for every process started in the
/// namespace. Loopback is up, so the whole of 127.0.0.0/8 and ::1 are local addresses there.
/// `stop()` (also run when released) ends every process started here and deletes the
/// namespace and its files.
final class DNSNamespace {
    static let dnsmasq = "/usr/sbin/dnsmasq"

    /// Why the namespace cannot be made here, or nil.
    static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "not root (network namespaces need CAP_SYS_ADMIN)" }
        guard CommandRun.which("ip") != nil, CommandRun.which("curl") != nil else { return "ip or curl is not installed" }
        guard access(dnsmasq, X_OK) == 0 else { return "\(dnsmasq) is not installed" }
        return NamespaceProbe.unavailableReason(prefix: "bscdnsprobe")
    }()

    /// For `.enabled(if:)`: says why when it is false, so a skipped test is never silent.
    static var isAvailable: Bool {
        if let reason = unavailableReason { print("dns: skipping the namespace test: \(reason)") }
        return unavailableReason == nil
    }

    let name: String
    let directory: String
    let hostsPath: String
    private let resolvConfDirectory: String
    private var server: ManagedProcess?
    private var processes: [ManagedProcess] = []
    private var stopped = false

    /// `records` as in /etc/hosts: address, then names.
    init(records: [String]) throws {
        name = "bscdns\(getpid())x\(UInt16.random(in: 0...UInt16.max))"
        directory = NSTemporaryDirectory() + name
        hostsPath = directory + "/hosts"
        resolvConfDirectory = "/etc/netns/" + name
        _ = try CommandRun.succeeding("/usr/sbin/ip", ["netns", "add", name])
        do {
            _ = try CommandRun.succeeding("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"])
            try FileManager.default.createDirectory(atPath: resolvConfDirectory, withIntermediateDirectories: true)
            try "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".write(toFile: resolvConfDirectory + "/resolv.conf",
                                                                           atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try setRecords(records)
            try startServer()
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// Rewrites the hosts file; `reloadServer()` makes dnsmasq read it.
    func setRecords(_ records: [String]) throws {
        try (records.joined(separator: "\n") + "\n").write(toFile: hostsPath, atomically: true, encoding: .utf8)
        chmod(hostsPath, 0o644)
    }

    /// SIGHUP: dnsmasq clears its cache and reads the hosts file again.
    func reloadServer() {
        server?.signal(SIGHUP)
    }

    func startServer() throws {
        // --local: dnsmasq answers for the test's domain itself (NXDOMAIN / no data), as the
        // zone's own server would, instead of refusing what it cannot forward. --user=root: no
        // change of credentials, which would clear the parent-death signal.
        server = try run(Self.dnsmasq, ["--conf-file=/dev/null", "--pid-file=", "--user=root", "--no-resolv", "--no-hosts",
                                        "--addn-hosts=\(hostsPath)", "--local-ttl=1", "--port", "53",
                                        "--listen-address=127.0.0.1", "--bind-interfaces", "--local=/bascule.test/", "-k"])
    }

    func stopServer() {
        _ = server?.terminate()
        server = nil
    }

    /// Starts `executable` inside the namespace; it is stopped with the namespace.
    func run(_ executable: String, _ arguments: [String]) throws -> ManagedProcess {
        let process = try ManagedProcess(executable: "/usr/sbin/ip", arguments: ["netns", "exec", name, executable] + arguments)
        processes.append(process)
        return process
    }

    /// Runs a command inside the namespace to completion.
    func exec(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(10)) throws -> CommandRun {
        try CommandRun.run("/usr/sbin/ip", ["netns", "exec", name, executable] + arguments, timeout: timeout)
    }

    /// An HTTP GET inside the namespace: status, headers and body as curl prints them.
    func get(_ url: String) throws -> (status: Int, headers: [String: String], body: String) {
        let result = try exec("/usr/bin/curl", ["--silent", "--max-time", "3", "--include", url])
        var headers: [String: String] = [:]
        var status = 0
        var bodyLines: [String] = []
        var inBody = false
        for line in result.stdout {
            let line = line.hasSuffix("\r") ? String(line.dropLast()) : line
            if inBody { bodyLines.append(line); continue }
            if line.isEmpty { inBody = true; continue }
            if line.hasPrefix("HTTP/") { status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0; continue }
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (status, headers, bodyLines.joined(separator: "\n"))
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        for process in processes.reversed() { _ = process.terminate() }
        processes = []
        server = nil
        _ = try? CommandRun.run("/usr/sbin/ip", ["netns", "del", name], timeout: .seconds(10))
        try? FileManager.default.removeItem(atPath: resolvConfDirectory)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
