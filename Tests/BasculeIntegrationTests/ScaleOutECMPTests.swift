import BasculeTestSupport
import Foundation
import Testing

/// Active/active: every node announces 2001:db8:5::10 over BGP (deploy/bgp/bird.conf.in,
/// readyz-announce.sh) and the router spreads flows over them (ECMP, L4 hash). 1,000 clients,
/// each its own IPv6 source address, must reach the same backend whichever node they land on:
/// nodes share nothing, and each lists the backends in a different order.
extension ScaleOutLabTests {
    @Suite("BGP with ECMP")
    struct ScaleOutECMPTests {
        static let target = "[2001:db8:5::10]:80"
        static let clientCount = 1000

        /// Each client's backend as it answered /whoami, how many clients failed, and why (the
        /// first few). Generous timeouts: a slow answer on a loaded machine is not what this
        /// measures; a refused or reset connection is.
        ///
        /// A client whose first try fails tries once more, as a real one would: agreement is
        /// what this measures. Retries are printed (a `scale-out:` line) so they stay visible.
        private func backendPerClient(_ lab: ScaleOutLab) throws -> (answers: [String: String], failed: Int, errors: String) {
            let result = try lab.clients(["whoami", "--target", Self.target, "--first-source", "2001:db8:c::1:1",
                                          "--count", "\(Self.clientCount)", "--parallel", "32", "--attempts", "2",
                                          "--connect-timeout", "3", "--timeout", "5"])
            let answers = (result["answers"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
            let errors = (result["errors"] as? [String: Any] ?? [:]).map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            if let retried = result["retried"] as? Int, retried > 0 {
                print("scale-out: ecmp whoami: \(retried) of \(Self.clientCount) clients needed a second try: \(result["retried_errors"] ?? "")")
            }
            return (answers, result["failed"] as? Int ?? Self.clientCount, errors)
        }

        /// "[2001:db8:c::1:1]:40000" → "2001:db8:c::1:1".
        private func clientAddress(_ peer: String) -> String {
            guard peer.hasPrefix("["), let end = peer.firstIndex(of: "]") else { return peer }
            return String(peer[peer.index(after: peer.startIndex)..<end])
        }

        @Test func everyClientKeepsItsBackendWhicheverNodeItsFlowLandsOnEvenWhenANodeDies() async throws {
            let nodes = ["n1", "n2", "n3"]
            let lab = try await ScaleOutLab(.ecmp, ["--nodes", "3", "--backends", "3", "--clients", "\(Self.clientCount)"])
            defer { lab.stop() }
            #expect(try lab.nexthops(family: 6) == 3)
            #expect(try lab.nexthops(family: 4) == 3)

            let first = try backendPerClient(lab)
            let second = try backendPerClient(lab)
            #expect(first.failed == 0, "\(first.errors)")
            #expect(second.failed == 0, "\(second.errors)")
            #expect(first.answers.count == Self.clientCount)
            #expect(Set(first.answers.values).count == 3, "1,000 clients reached only \(Set(first.answers.values))")
            let disagreements = first.answers.filter { second.answers[$0.key] != $0.value }.count
            #expect(disagreements == 0)

            // Where each flow landed, from the nodes' access logs (written by a thread of their
            // own, so wait for every line).
            var logs: [String: [[String: Any]]] = [:]
            try waitUntil("2,000 connections in the nodes' access logs") {
                for node in nodes { logs[node] = lab.accessLog(node).filter { $0["service"] as? String == "web" } }
                return logs.values.map(\.count).reduce(0, +) >= 2 * Self.clientCount
            }
            var nodesOfClient: [String: Set<String>] = [:]
            var backendsOfClient: [String: Set<String>] = [:]
            for (node, lines) in logs {
                for line in lines {
                    let client = clientAddress(line["client"] as? String ?? "?")
                    nodesOfClient[client, default: []].insert(node)
                    backendsOfClient[client, default: []].insert(line["backend"] as? String ?? "none")
                }
            }
            let perNode = nodes.map { logs[$0]?.count ?? 0 }
            for (node, count) in zip(nodes, perNode) {
                #expect(count >= 2 * Self.clientCount / 10, "\(node) took only \(count) of \(2 * Self.clientCount) flows")
            }
            let onSeveralNodes = nodesOfClient.values.filter { $0.count > 1 }.count
            #expect(onSeveralNodes >= Self.clientCount / 3, "only \(onSeveralNodes) clients landed on more than one node")
            let split = backendsOfClient.filter { $0.value.count > 1 }
            #expect(split.isEmpty, "clients sent to different backends by different nodes: \(split.prefix(5))")

            // A node dies: its readiness script sees /readyz fail and withdraws its route. A
            // client loop shows what users see until the router has reconverged.
            let loop = try LabClientLoop(lab: lab, target: Self.target, interval: 0.02)
            try loop.waitForSuccesses(10)
            let killed = ContinuousClock.now
            try lab.signal("n2", "bascule", "KILL")
            try waitUntil("the router to drop n2's next hop", timeout: .seconds(15), poll: .milliseconds(50)) {
                try lab.nexthops(family: 6) == 2
            }
            let reconverged = ContinuousClock.now - killed
            try loop.waitForSuccesses(loop.successes + 20)
            let summary = try loop.finish()

            let third = try backendPerClient(lab)
            #expect(third.failed == 0, "\(third.errors)")
            let changed = first.answers.filter { third.answers[$0.key] != $0.value }.count
            #expect(changed == 0, "\(changed) clients changed backend when a node died")

            print("scale-out: ecmp 3 nodes, \(Self.clientCount) clients x 2 rounds: flows per node \(perNode), "
                  + "\(onSeveralNodes) clients landed on more than one node, \(disagreements) disagreements, "
                  + "\(split.count) clients split across backends")
            print("scale-out: ecmp SIGKILL of n2's Bascule: route withdrawn after \(reconverged.milliseconds) ms; client loop: "
                  + "\(summary.failed) failed of \(summary.attempts), longest gap \(Int(summary.longestGapMs)) ms; "
                  + "clients on another backend afterwards: \(changed) of \(Self.clientCount)")
        }

        @Test func losingOneOfFourBackendsMovesOnlyItsOwnClientsOnEveryNode() async throws {
            let nodes = ["n1", "n2"]
            let backends = 4
            let lab = try await ScaleOutLab(.ecmp, ["--nodes", "2", "--backends", "\(backends)", "--clients", "\(Self.clientCount)"])
            defer { lab.stop() }
            let before = try backendPerClient(lab)
            #expect(before.failed == 0, "\(before.errors)")
            #expect(Set(before.answers.values).count == backends)

            // The backend dies; every node's health checks take it out on their own.
            try lab.signal("be", "b2", "KILL")
            for node in nodes {
                try waitUntil("b2 down on \(node)", timeout: .seconds(10), poll: .milliseconds(50)) {
                    try lab.backendState(node, service: "web", backend: "b2") == "down"
                }
            }
            let after = try backendPerClient(lab)
            #expect(after.failed == 0, "\(after.errors)")

            let orphans = before.answers.filter { $0.value == "b2" }.map(\.key)
            let moved = before.answers.filter { after.answers[$0.key] != $0.value }
            let othersMoved = moved.filter { $0.value != "b2" }.count
            let fraction = Double(moved.count) / Double(Self.clientCount)
            #expect(orphans.allSatisfy { after.answers[$0].map { $0 != "b2" } ?? false })
            #expect(fraction <= 1.0 / Double(backends) + 0.05)
            // Maglev repopulates a few table slots of surviving backends; well under 1%.
            #expect(othersMoved <= Self.clientCount / 100, "\(othersMoved) clients of surviving backends moved")
            print("scale-out: ecmp losing 1 of \(backends) backends (maglev, 2 nodes): \(moved.count) of \(Self.clientCount) clients "
                  + "moved (\(String(format: "%.1f", fraction * 100))%, 1/N = \(100 / backends)%): all \(orphans.count) of b2's "
                  + "and \(othersMoved) others")
        }
    }
}
