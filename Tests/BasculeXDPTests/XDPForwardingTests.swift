import BasculeTestSupport
import Foundation
import Testing

/// The kernel data plane end to end, in network namespaces (XDPLab): a client with 1,000
/// addresses, a router, the balancer running `bascule run` with XDP on its interface, and three
/// backends that decapsulate and answer the clients directly.
@Suite("XDP data plane in namespaces", .serialized, .enabled(if: XDPLab.isAvailable), .timeLimit(.minutes(5)))
final class XDPForwardingTests {
    let lab: XDPLab

    init() async throws {
        lab = try await XDPLab(clients: 1000)
        do {
            try lab.startBascule(config: XDPLab.configuration())
        } catch {
            print("xdp: bascule output:\n\(lab.bascule?.recentOutput() ?? "")")
            lab.stop()
            throw error
        }
    }

    deinit { lab.stop() }

    /// Parses client.py's "SOURCE BACKEND SEEN" lines.
    private func results(_ lines: [String]) -> [(source: String, backend: String, seen: String)] {
        lines.map { line in
            let fields = line.split(separator: " ").map(String.init)
            return (fields[0], fields.count > 1 ? fields[1] : "?", fields.count > 2 ? fields[2] : "?")
        }
    }

    @Test func tcpAndUDPReachEveryBackendWhereMaglevPlacesThemAndBackendsSeeTheClient() throws {
        let cases: [(proto: String, vip: String, clients: [String], backends: [(String, String)])] = [
            ("tcp", XDPLab.vip4, lab.clients4(200), XDPLab.backends4),
            ("tcp", XDPLab.vip6, lab.clients6(200), XDPLab.backends6),
            ("udp", XDPLab.vip4, lab.clients4(100), XDPLab.backends4),
            ("udp", XDPLab.vip6, lab.clients6(100), XDPLab.backends6),
        ]
        for (proto, vip, clients, backends) in cases {
            let prediction = MaglevPrediction(backends: backends)
            let answers = results(try lab.client([proto, vip, "80"] + clients))
            #expect(answers.count == clients.count)
            var counts: [String: Int] = [:]
            for answer in answers {
                #expect(answer.backend == prediction.backend(for: answer.source), "\(proto) \(answer.source) → \(answer.backend)")
                #expect(answer.seen == answer.source, "the backend saw \(answer.seen), not the client \(answer.source)")
                counts[answer.backend, default: 0] += 1
            }
            print("xdp: \(proto) \(vip): \(clients.count) clients per backend \(counts.sorted { $0.key < $1.key })")
            if answers.contains(where: { $0.backend != prediction.backend(for: $0.source) }) {
                print("xdp: bascule's log:\n\(lab.bascule?.recentOutput(limit: 30) ?? "")")
            }
            // Maglev's shares are equal within a few percent over many clients; over 100-200
            // the spread is the sample's, so only require that every backend takes a fair part.
            for (name, _) in backends {
                #expect((counts[name] ?? 0) >= clients.count / 6, "\(name) got \(counts[name] ?? 0) of \(clients.count)")
            }
        }
        let metrics = try lab.metrics()
        #expect(lab.verdict(metrics, action: "forwarded", reason: "tx") >= 600)
        for name in ["b1", "b2", "b3"] {
            #expect((metrics["bascule_xdp_backend_packets_total{service=\"web\",backend=\"\(name)\"}"] ?? 0) > 0)
        }
    }

    @Test func aProxyNodeAndAnXDPNodeSendAThousandClientsToTheSameBackends() throws {
        let clients = lab.clients6(1000)
        let throughXDP = results(try lab.client(["tcp", XDPLab.vip6, "80"] + clients))
        let throughProxy = results(try lab.client(["tcp", "2001:db8:1::2", "8080"] + clients))
        #expect(throughXDP.count == 1000 && throughProxy.count == 1000)
        let proxyBackend = Dictionary(uniqueKeysWithValues: throughProxy.map { ($0.source, $0.backend) })
        let disagreements = throughXDP.filter { proxyBackend[$0.source] != $0.backend }
        #expect(disagreements.isEmpty, "clients placed differently: \(disagreements.prefix(5))")
        #expect(throughXDP.allSatisfy { $0.backend.hasPrefix("b") }, "failures: \(throughXDP.filter { !$0.backend.hasPrefix("b") }.prefix(5))")
        print("xdp: 1000 IPv6 clients, proxy node and XDP node agree on \(1000 - disagreements.count)")
    }

    @Test func repliesGoFromTheBackendToTheClientWithoutCrossingTheBalancer() throws {
        let before = try lab.interfaceCounters()
        let size = 4_000_000
        let received = try lab.client(["bulk", XDPLab.vip4, "80", "203.0.113.50", "\(size)"])
        #expect(received == ["bulk \(size)"])
        let after = try lab.interfaceCounters()
        let inBytes = after.rxBytes - before.rxBytes
        let outBytes = after.txBytes - before.txBytes
        print("xdp: \(size) bytes to the client; the balancer's interface received \(inBytes) bytes and sent \(outBytes)")
        // The client's side (requests, acknowledgements) crosses it; the 4 MB answer does not.
        #expect(inBytes < size / 10)
        #expect(outBytes < size / 10)
    }

    @Test func aKilledBackendsFlowsMoveNewFlowsAvoidItAndOtherFlowsStayEvenWhenItReturns() throws {
        let prediction = MaglevPrediction(backends: XDPLab.backends4)
        let clients = lab.clients4(90)
        let held = try HeldConnections(lab, vip: XDPLab.vip4, sources: clients)
        let onB2 = held.backends.filter { $0.value == "b2" }.map(\.key).sorted()
        #expect(!onB2.isEmpty)
        #expect(held.backends.allSatisfy { prediction.backend(for: $0.key) == $0.value })

        lab.killResponder("b2")
        try waitUntil("the checks take b2 out", timeout: .seconds(30), poll: .milliseconds(100)) {
            try lab.metrics()["bascule_backend_up{service=\"web\",backend=\"b2\"}"] == 0
        }
        // Established flows on b1 and b3 still reach their backend.
        let round = try held.round()
        for (source, backend) in held.backends where backend != "b2" {
            #expect(round[source] == "ok", "\(source) on \(backend) lost its connection when b2 died")
        }
        // New flows of b2's clients go to the survivors, where Maglev over them puts them.
        let survivors = MaglevPrediction(backends: XDPLab.backends4, eligible: ["b1", "b3"])
        let moved = try HeldConnections(lab, vip: XDPLab.vip4, sources: onB2)
        for source in onB2 {
            #expect(moved.backends[source] == survivors.backend(for: source), "\(source) went to \(moved.backends[source] ?? "nowhere")")
        }

        // b2 comes back: those clients' addresses hash to b2 again, but their open flows stay
        // where they are (the connection table), and new ones go back to b2.
        try lab.startResponder("b2")
        try waitUntil("the checks bring b2 back", timeout: .seconds(20), poll: .milliseconds(100)) {
            try lab.metrics()["bascule_backend_up{service=\"web\",backend=\"b2\"}"] == 1
        }
        let afterReturn = try moved.round()
        for source in onB2 {
            #expect(afterReturn[source] == "ok", "\(source)'s flow on \(moved.backends[source] ?? "?") broke when b2 returned")
        }
        let fresh = results(try lab.client(["tcp", XDPLab.vip4, "80"] + onB2))
        #expect(fresh.allSatisfy { $0.backend == "b2" }, "new flows of b2's clients: \(fresh.map(\.backend))")
        print("xdp: \(onB2.count) of \(clients.count) held flows were on b2; all others survived its death, and the moved ones its return")
    }

    @Test func badInputIsDroppedOrPassedAsDocumentedAndNeverForwarded() throws {
        let mac = try lab.run(in: "lb", ["cat", "/sys/class/net/lb0/address"]).first ?? ""
        let expected: [(name: String, action: String, reason: String)] = [
            ("ipv4-options", "dropped", "ip_options"),
            ("ipv4-first-fragment", "dropped", "fragment"),
            ("ipv4-later-fragment", "dropped", "fragment"),
            ("ipv4-truncated-tcp", "dropped", "truncated"),
            ("ipv4-length-beyond-frame", "dropped", "truncated"),
            ("ipv4-bad-header-length", "dropped", "malformed"),
            ("ipv6-fragment", "dropped", "fragment"),
            ("ipv6-hop-by-hop", "dropped", "ip_options"),
            ("ipv6-length-beyond-frame", "dropped", "truncated"),
            ("tcp-other-port", "passed", "vip_other_port_or_protocol"),
            ("icmp-to-vip", "passed", "vip_other_port_or_protocol"),
            ("not-a-vip", "passed", "not_vip"),
            ("arp", "passed", "not_ip"),
            ("ipv4-truncated-before-address", "passed", "truncated_before_address"),
        ]
        for (name, action, reason) in expected {
            let before = try lab.metrics()
            try lab.run(in: "router", ["python3", XDPLab.labDirectory + "/bad-packets.py", "rl", mac, name])
            // The counter moves when the frame has been through the program; the health checks'
            // own packets may move "not_vip" and friends meanwhile, so wait for this one.
            try waitUntil("\(name) counted as \(action) \(reason)", timeout: .seconds(5), poll: .milliseconds(50)) {
                lab.verdict(try lab.metrics(), action: action, reason: reason) > lab.verdict(before, action: action, reason: reason)
            }
            let after = try lab.metrics()
            #expect(lab.verdict(after, action: "forwarded", reason: "tx") == lab.verdict(before, action: "forwarded", reason: "tx"),
                    "\(name) was forwarded")
            if action == "dropped" {
                #expect(lab.verdict(after, action: action, reason: reason) == lab.verdict(before, action: action, reason: reason) + 1)
            }
        }
    }

    @Test func aRestartedBasculeReplacesTheProgramItsCrashedPredecessorLeftAndDetachesOnExit() throws {
        let first = try #require(lab.bascule)
        first.signal(SIGKILL)
        _ = first.waitForExit(timeout: .seconds(10))
        let stale = try lab.run(in: "lb", ["ip", "link", "show", "lb0"]).joined(separator: " ")
        #expect(stale.contains("bascule_xdp"), "a killed process leaves its program attached: \(stale)")
        // Traffic still flows through the orphan meanwhile.
        #expect(results(try lab.client(["tcp", XDPLab.vip4, "80", "203.0.113.2"])).first?.backend.hasPrefix("b") == true)

        let second = try lab.startBascule(config: XDPLab.configuration())
        let attached = try second.waitForLine(containing: "kernel data plane attached")
        #expect(attached.contains("replaced=\"stale program") || attached.contains("replaced=stale"), "\(attached)")
        #expect(results(try lab.client(["tcp", XDPLab.vip4, "80", "203.0.113.2"])).first?.backend.hasPrefix("b") == true)

        lab.stopBascule()
        let after = try lab.run(in: "lb", ["ip", "link", "show", "lb0"]).joined(separator: " ")
        #expect(!after.contains("xdp"), "the program stays attached after a clean exit: \(after)")
    }

    @Test func someoneElsesProgramIsNotReplacedAndNativeModeNeverFallsBackToGeneric() throws {
        lab.stopBascule()
        // Someone else's program on the interface: refused, named, left in place.
        let pass = try XDPLab.compilePassProgram()
        try lab.run(in: "lb", ["ip", "link", "set", "dev", "lb0", "xdpdrv", "obj", pass, "sec", "xdp"])
        let refused = try lab.startBascule(config: XDPLab.configuration(proxyTwins: false), expectAttach: false)
        #expect(refused.waitForExit(timeout: .seconds(30)) != 0)
        #expect(refused.recentOutput().contains("\"xdp_pass\""), "\(refused.recentOutput())")
        #expect(try lab.run(in: "lb", ["ip", "link", "show", "lb0"]).joined().contains("xdp_pass"))
        try lab.run(in: "lb", ["ip", "link", "set", "dev", "lb0", "xdpdrv", "off"])

        // An interface whose driver has no XDP (lo): native fails loudly; nothing is attached.
        let onLoopback = XDPLab.configuration(proxyTwins: false).replacingOccurrences(of: "\"lb0\"", with: "\"lo\"")
        let failed = try lab.startBascule(config: onLoopback, expectAttach: false)
        #expect(failed.waitForExit(timeout: .seconds(30)) != 0)
        #expect(failed.recentOutput().contains("native mode"), "\(failed.recentOutput())")
        #expect(!(try lab.run(in: "lb", ["ip", "link", "show", "lo"]).joined().contains("xdp")))
    }
}

/// client.py hold: connections kept open, one per source, and rounds of echo on them.
final class HeldConnections {
    private let process: ManagedProcess
    /// Source address → backend it reached.
    private(set) var backends: [String: String] = [:]
    private var consumed = 0

    init(_ lab: XDPLab, vip: String, sources: [String]) throws {
        process = try ManagedProcess(executable: "/usr/sbin/ip",
                                     arguments: ["netns", "exec", lab.namespace("client"), "python3",
                                                 XDPLab.labDirectory + "/client.py", "hold", vip, "80"] + sources)
        _ = try process.waitForLine(containing: "held \(sources.count)", timeout: .seconds(60))
        for line in process.lines.map(\.text) where line.hasPrefix("open ") {
            let fields = line.split(separator: " ")
            backends[String(fields[1])] = String(fields[2])
        }
        consumed = process.lineCount
    }

    deinit { process.terminate(grace: .seconds(2)) }

    /// One echo on every connection: source → "ok" or "fail".
    func round() throws -> [String: String] {
        process.signal(SIGUSR1)
        _ = try process.waitForLine(containing: "round done", after: consumed, timeout: .seconds(60))
        var outcome: [String: String] = [:]
        for line in process.lines.dropFirst(consumed).map(\.text) where line.hasPrefix("echo ") {
            let fields = line.split(separator: " ")
            outcome[String(fields[1])] = String(fields[3])
        }
        consumed = process.lineCount
        return outcome
    }
}

extension XDPLab {
    /// A program that passes everything, compiled here: "someone else's" program.
    static func compilePassProgram() throws -> String {
        let directory = NSTemporaryDirectory() + "/bx-pass-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let source = directory + "/xdp_pass.c"
        try """
            #include <linux/bpf.h>
            __attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
            char _license[] __attribute__((section("license"), used)) = "GPL";
            """.write(toFile: source, atomically: true, encoding: .utf8)
        var machine = utsname()
        uname(&machine)
        let arch = withUnsafeBytes(of: &machine.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        _ = try CommandRun.succeeding(CommandRun.which("clang")!, ["-O2", "-target", "bpf", "-I/usr/include/\(arch)-linux-gnu",
                                                                "-c", source, "-o", directory + "/xdp_pass.o"])
        return directory + "/xdp_pass.o"
    }
}

extension XDPForwardingTests {
    @Test func theXDPFamiliesOnTheMetricsPageAreTheOnesDocsMetricsMdLists() throws {
        _ = try lab.client(["tcp", XDPLab.vip4, "80", "203.0.113.2"])
        let page = try lab.admin("/metrics")
        var exported: [String: (type: String, labels: Set<String>)] = [:]
        for line in page.split(separator: "\n") {
            if line.hasPrefix("# TYPE bascule_xdp_") {
                let fields = line.split(separator: " ")
                exported[String(fields[2]), default: ("", [])].type = String(fields[3])
            } else if line.hasPrefix("bascule_xdp_"), let brace = line.firstIndex(of: "{") {
                let name = String(line[..<brace])
                let labels = line[line.index(after: brace)..<line.firstIndex(of: "}")!].split(separator: ",")
                    .map { String($0.prefix { $0 != "=" }) }
                exported[name, default: ("", [])].labels.formUnion(labels)
            }
        }
        let reference = try String(contentsOfFile: XDPLab.repository + "/docs/metrics.md", encoding: .utf8)
        var documented: [String: (type: String, labels: Set<String>)] = [:]
        for line in reference.split(separator: "\n") where line.hasPrefix("| `bascule_xdp_") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let labels = cells[2].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "` ")) }
            documented[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = (cells[1], Set(labels.filter { !$0.isEmpty }))
        }
        #expect(Set(exported.keys) == Set(documented.keys))
        for (name, family) in exported {
            #expect(documented[name]?.type == family.type && documented[name]?.labels == family.labels, "\(name)")
        }
        // /status carries the same counters.
        let status = try lab.admin("/status")
        #expect(status.contains("\"xdp\":") && status.contains("\"interface\":\"lb0\"") && status.contains("\"forwarded.tx\":"), "\(status.suffix(600))")
        // Every reason the program counts is named in the reference.
        for line in page.split(separator: "\n") where line.hasPrefix("bascule_xdp_packets_total{") {
            let reason = line.split(separator: "reason=\"")[1].prefix { $0 != "\"" }
            #expect(reference.contains("`\(reason)`"), "reason \(reason) is not in docs/metrics.md")
        }
    }
}

extension XDPForwardingTests {
    @Test func drainingOrDisablingABackendSendsNewFlowsElsewhereAndLeavesItsOpenFlowsAlone() throws {
        let clients = lab.clients4(90)
        let held = try HeldConnections(lab, vip: XDPLab.vip4, sources: clients)
        let onB1 = held.backends.filter { $0.value == "b1" }.map(\.key).sorted()
        #expect(!onB1.isEmpty)
        let survivors = MaglevPrediction(backends: XDPLab.backends4, eligible: ["b2", "b3"])
        for action in ["drain", "disable"] {
            let answer = try lab.run(in: "lb", ["curl", "-sS", "-X", "POST",
                                                "http://127.0.0.1:\(XDPLab.adminPort)/services/web/backends/b1/\(action)"])
            #expect(answer.joined().contains("\"backend\":\"b1\""), "\(answer)")
            // The registry publishes changed tables (and so writes the program's maps) at the
            // end of the control loop's turn: a later request is answered after that.
            _ = try lab.admin("/healthz")
            let round = try held.round()
            #expect(clients.allSatisfy { round[$0] == "ok" }, "\(action): open flows broke: \(round.filter { $0.value != "ok" })")
            let fresh = results(try lab.client(["tcp", XDPLab.vip4, "80"] + onB1))
            for answer in fresh {
                #expect(answer.backend == survivors.backend(for: answer.source), "\(action): \(answer.source) → \(answer.backend)")
            }
        }
        let enabled = try lab.run(in: "lb", ["curl", "-sS", "-X", "POST", "http://127.0.0.1:\(XDPLab.adminPort)/services/web/backends/b1/enable"])
        #expect(enabled.joined().contains("\"state\":\"up\""), "\(enabled)")
        _ = try lab.admin("/healthz")
        #expect(results(try lab.client(["tcp", XDPLab.vip4, "80"] + onB1)).allSatisfy { $0.backend == "b1" })
    }
}
