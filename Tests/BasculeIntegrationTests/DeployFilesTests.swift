import BasculeTestSupport
import Foundation
import Testing

/// deploy/'s files must not rot: the systemd unit runs options `bascule` has and outlasts the
/// drain it asks for, and every template renders (as the lab renders it) into a file its own
/// daemon accepts. No namespaces here; the lab tests then run these files for real.
@Suite("Deploy files", .serialized, .timeLimit(.minutes(2)))
struct DeployFilesTests {
    static let deploy = ScaleOutLab.repository + "/deploy"

    private static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "bascule-deploy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `[Section]` → key → values, in file order (a key may repeat).
    private static func unit(_ text: String) -> [String: [String: [String]]] {
        var sections: [String: [String: [String]]] = [:]
        var section = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
            } else if let equals = line.firstIndex(of: "=") {
                sections[section, default: [:]][String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
            }
        }
        return sections
    }

    /// Each `--option` in `command` (after the subcommand) must be one `bascule SUBCOMMAND --help` lists.
    private static func expectOptionsExist(_ command: String, subcommand: String) throws {
        let words = command.split(separator: " ").map(String.init)
        let path = subcommand.split(separator: " ").map(String.init)
        #expect(words.first == "/usr/local/bin/bascule" && Array(words.dropFirst().prefix(path.count)) == path, "\(command)")
        let help = try CommandRun.succeeding(try TestBinaries.bascule(), path + ["--help"]).stdout.joined(separator: "\n")
        for option in words.dropFirst(1 + path.count) where option.hasPrefix("-") {
            #expect(help.contains(" \(option) ") || help.contains(" \(option),"), "bascule \(subcommand) has no \(option)")
        }
    }

    @Test func theSystemdUnitRunsOptionsBasculeHasAndOutlastsTheConfiguredDrain() throws {
        let path = Self.deploy + "/systemd/bascule.service"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let service = Self.unit(text)["Service"] ?? [:]
        func value(_ key: String) -> String? { service[key]?.last }

        let start = try #require(value("ExecStart"))
        try Self.expectOptionsExist(start, subcommand: "run")
        #expect(start.contains("--config /etc/bascule/config.json"))
        if let check = value("ExecStartPre") { try Self.expectOptionsExist(check, subcommand: "check") }
        // A reload that the running process rejects must fail `systemctl reload`: a signal
        // cannot say so, `bascule ctl reload` exits 1 (CtlReloadTests).
        let reload = try #require(value("ExecReload"))
        try Self.expectOptionsExist(reload, subcommand: "ctl reload")
        #expect(reload.contains("--config /etc/bascule/config.json"))
        #expect(value("KillSignal") == "SIGTERM")
        #expect((value("LimitNOFILE").flatMap { Int($0) } ?? 0) >= 65_536)

        // systemd must wait longer than the drain the example configuration asks for.
        let example = Self.deploy + "/config.example.json"
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: example))) as? [String: Any])
        let grace = config["drainGraceMs"] as? Int ?? 0
        let defaults = config["defaults"] as? [String: Any] ?? [:]
        let services = config["services"] as? [[String: Any]] ?? []
        let drain = ([defaults["drainTimeoutMs"] as? Int ?? 30_000] + services.compactMap { $0["drainTimeoutMs"] as? Int }).max()!
        let stopSeconds = try #require(value("TimeoutStopSec").flatMap { Int($0) })
        #expect(stopSeconds * 1000 > grace + drain, "TimeoutStopSec=\(stopSeconds) but the drain may take \(grace + drain) ms")

        // The example passes `bascule check` (its access log moved somewhere writable).
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let checkable = directory + "/config.json"
        try String(contentsOfFile: example, encoding: .utf8)
            .replacingOccurrences(of: "/var/log/bascule/", with: directory + "/")
            .write(toFile: checkable, atomically: true, encoding: .utf8)
        let checked = try CommandRun.run(try TestBinaries.bascule(), ["check", "--config", checkable])
        #expect(checked.status == 0, "\(checked.output)")

        // And systemd's own verdict, when it is installed, on the unit pointing at this build.
        guard let analyze = CommandRun.which("systemd-analyze") else {
            print("scale-out: systemd-analyze is not installed; the unit was checked by parsing only")
            return
        }
        let rendered = directory + "/bascule.service"
        try text.replacingOccurrences(of: "/usr/local/bin/bascule", with: try TestBinaries.bascule())
            .replacingOccurrences(of: "/etc/bascule/config.json", with: checkable)
            .write(toFile: rendered, atomically: true, encoding: .utf8)
        // --man=no: the man page the unit names is installed by the .deb, not by the build.
        let verified = try CommandRun.run(analyze, ["verify", "--man=no", rendered])
        #expect(verified.status == 0 && !verified.output.contains("bascule.service"), "\(verified.output)")

        // The sandbox: systemd's own score of the unit stays under 3 (it was 5.6 unsandboxed),
        // with what a balancer needs still granted.
        let security = try CommandRun.run(analyze, ["security", "--offline=true", rendered])
        let exposure = security.output.firstMatch(of: /Overall exposure level for [^:]*: ([0-9.]+)/).flatMap { Double($0.1) }
        #expect(exposure != nil && exposure! < 3, "\(security.output)")
        #expect(service["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"])
        #expect(service["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"])
        #expect(service["RestrictAddressFamilies"]?.last?.contains("AF_INET6") == true)
    }

    @Test func everyTemplateRendersIntoAFileItsDaemonAccepts() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var unchecked: [String] = []
        for mode in ["vrrp", "ecmp"] {
            let out = directory + "/" + mode
            _ = try CommandRun.succeeding("/bin/bash", [ScaleOutLab.script, "render", mode, "--out", out, "--drain-grace-ms", "5000"])
            let files = try FileManager.default.contentsOfDirectory(atPath: out + "/conf").sorted()
            let expected = mode == "vrrp" ? ["n1.keepalived.conf", "n2.keepalived.conf", "n1.second-chance.nft", "n1.json"]
                                          : ["rt.bird.conf", "n1.bird.conf", "n3.bird.conf", "n1.json"]
            #expect(Set(expected).isSubset(of: files), "\(mode): \(files)")
            for file in files {
                let path = out + "/conf/" + file
                let text = try String(contentsOfFile: path, encoding: .utf8)
                #expect(!text.contains("${"), "\(mode) \(file) still has a placeholder")
                let checker: (tool: String, arguments: [String])?
                switch file {
                case _ where file.hasSuffix(".keepalived.conf"): checker = ("keepalived", ["-t", "-f", path])
                case _ where file.hasSuffix(".bird.conf"): checker = ("bird", ["-p", "-c", path])
                case _ where file.hasSuffix(".json"): checker = (try TestBinaries.bascule(), ["check", "--config", path])
                default: checker = nil  // the nft rules name lab interfaces: the handover test loads them
                }
                guard let checker else { continue }
                guard let tool = checker.tool.hasPrefix("/") ? checker.tool : CommandRun.which(checker.tool) else {
                    unchecked.append(file)
                    continue
                }
                let result = try CommandRun.run(tool, checker.arguments)
                #expect(result.status == 0, "\(mode) \(file): \(result.output)")
            }
        }
        if !unchecked.isEmpty { print("scale-out: keepalived or bird missing; not checked: \(unchecked.joined(separator: ", "))") }
    }

    @Test func theLogrotateFileRenamesThenSignalsSoTheBalancerWritesAFreshFile() throws {
        let text = try String(contentsOfFile: Self.deploy + "/logrotate/bascule", encoding: .utf8)
        let signal = "systemctl kill --kill-whom=main --signal=SIGUSR1 bascule.service"
        let directives = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        #expect(text.contains(signal) && text.contains("/var/log/bascule/*.log"))
        #expect(!directives.contains { $0.contains("copytruncate") }, "copytruncate would lose or cut lines")
        guard let logrotate = CommandRun.which("logrotate") ?? ["/usr/sbin/logrotate"].first(where: { access($0, X_OK) == 0 }) else {
            print("deploy: logrotate is not installed; the file was checked by reading only")
            return
        }
        let (a, portA) = try BackendProcess.start(name: "a")
        defer { a.terminate() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logPath = directory + "/access.log"
        let balancer = try BalancerProcess(services: [["name": "publishing", "healthCheck": ["type": "none"],
                                                       "backends": [["name": "a", "address": "127.0.0.1:\(portA)"]]]],
                                           extraTopLevel: ["accessLog": logPath])
        defer { balancer.process.terminate() }
        func lineCount(_ path: String) -> Int {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        _ = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami")
        try waitUntil("the first access-log line") { lineCount(logPath) == 1 }

        // The file as installed, pointed at this test's directory and this process.
        let configuration = directory + "/logrotate.conf"
        try text.replacingOccurrences(of: "/var/log/bascule/", with: directory + "/")
            .replacingOccurrences(of: signal, with: "kill -USR1 \(balancer.process.pid)")
            .write(toFile: configuration, atomically: true, encoding: .utf8)
        let rotated = try CommandRun.run(logrotate, ["--force", "--state", directory + "/state", configuration])
        #expect(rotated.status == 0, "\(rotated.output)")
        _ = try balancer.process.waitForLine(containing: "reopening the access log")

        _ = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami")
        try waitUntil("a line in the new file") { lineCount(logPath) == 1 }
        #expect(lineCount(logPath + ".1") == 1, "the rotated file keeps the first line, uncompressed until the next rotation")
    }
}
