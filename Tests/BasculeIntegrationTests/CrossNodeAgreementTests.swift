import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Several balancer nodes behind one address (ECMP, or a VRRP failover) share no state: a
/// client's flow may land on any of them, so each must pick the same backend on its own.
/// Two independent `bascule` processes stand in for two nodes; the clients are distinct
/// loopback source addresses, which is all the hashing strategies look at.
@Suite("Cross-node agreement", .serialized, .timeLimit(.minutes(3)))
struct CrossNodeAgreementTests {
    static let clientCount = 200

    private static func clients() -> [String] {
        (0..<clientCount).map { "127.1.\($0 / 250).\($0 % 250 + 1)" }
    }

    private static func backendPerClient(_ port: UInt16) throws -> [String: String] {
        var result: [String: String] = [:]
        for source in clients() {
            let reply = try TestHTTPClient(timeout: .seconds(5), source: source).get(port: port, path: "/whoami")
            result[source] = reply.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return result
    }

    @Test(arguments: ["maglev", "source-hash"])
    func twoNodesWithTheBackendsInADifferentOrderAgreeAndLosingOneBackendMovesOnlyItsClients(strategy: String) throws {
        var backends: [(name: String, port: UInt16, process: ManagedProcess)] = []
        defer { backends.forEach { $0.process.terminate() } }
        for name in ["rep1", "rep2", "rep3", "rep4", "rep5"] {
            let (process, port) = try BackendProcess.start(name: name, role: .reporting)
            backends.append((name, port, process))
        }
        func service(_ order: [Int]) -> [[String: Any]] {
            [["name": "reporting", "strategy": strategy, "healthCheck": ["type": "none"],
              "backends": order.map { ["name": backends[$0].name, "address": "127.0.0.1:\(backends[$0].port)"] }]]
        }
        let nodeA = try BalancerProcess(services: service([0, 1, 2, 3, 4]))
        defer { nodeA.process.terminate() }
        let nodeB = try BalancerProcess(services: service([3, 0, 4, 2, 1]), workers: 2)
        defer { nodeB.process.terminate() }

        let before = try Self.backendPerClient(nodeA.port("reporting"))
        #expect(try Self.backendPerClient(nodeB.port("reporting")) == before, "\(strategy): nodes disagree")
        let used = Set(before.values)
        #expect(used.count == backends.count, "\(strategy): \(Self.clientCount) clients reached only \(used.sorted())")

        // The same backend leaves both nodes (as a failed health check would take it out).
        let removed = "rep3"
        for node in [nodeA, nodeB] {
            let reply = try TestHTTPClient().request("POST", port: node.adminPort, path: "/services/reporting/backends/\(removed)/disable")
            #expect(reply.status == 200)
        }
        let afterA = try Self.backendPerClient(nodeA.port("reporting"))
        #expect(try Self.backendPerClient(nodeB.port("reporting")) == afterA, "\(strategy): nodes disagree after the loss")
        let orphans = before.filter { $0.value == removed }.map(\.key)
        let othersMoved = before.filter { $0.value != removed && afterA[$0.key] != $0.value }.count
        #expect(orphans.allSatisfy { afterA[$0] != removed })
        // Rendezvous hashing moves nobody else; Maglev's table may shift a few entries.
        let allowed = strategy == "source-hash" ? 0 : Self.clientCount / 50
        #expect(othersMoved <= allowed, "\(strategy): \(othersMoved) clients of surviving backends moved")
        print("cross-node: \(strategy) 2 nodes agree on \(Self.clientCount) clients; losing 1 of \(backends.count) backends moved "
              + "\(orphans.count) of its clients and \(othersMoved) others (\(String(format: "%.1f", Double(orphans.count + othersMoved) * 100 / Double(Self.clientCount)))% in all)")
    }
}
