import BasculeBalancing
import BasculeConfig
@testable import BasculeProxy
import Testing

@Suite struct ServiceTableTests {
    private func service(backends: [BackendConfig], strategy: String = "round-robin") -> ServiceConfig {
        ServiceConfig(name: "publishing", listen: Endpoint(host: "127.0.0.1", port: 8081), strategy: strategy, backends: backends)
    }

    private func backend(_ name: String, port: UInt16, backup: Bool = false) -> BackendConfig {
        BackendConfig(name: name, address: Endpoint(host: "127.0.0.1", port: port), backup: backup)
    }

    private func table(_ config: ServiceConfig, healthy: [Bool]? = nil) throws -> ServiceTable {
        var states = config.backends.map { BackendState(weight: $0.weight) }
        for (index, up) in (healthy ?? []).enumerated() { states[index].healthy = up }
        return try BackendRegistry.makeTable(id: 0, service: config, counters: config.backends.map { [store = ActiveCountStore()] _ in BackendCounters(store: store) },
                                      states: states, nowMs: 1_000)
    }

    @Test func aRetryNeverReturnsABackendAlreadyTried() throws {
        let config = service(backends: [backend("a", port: 1), backend("b", port: 2), backend("c", port: 3)])
        let runtime = ServiceRuntime(table: try table(config), traffic: TrafficStats())
        var tried: [Int] = []
        for _ in 0..<3 {
            let pick = try #require(runtime.pick(clientHash: 0, excluding: tried))
            #expect(!tried.contains(pick))
            tried.append(pick)
        }
        #expect(runtime.pick(clientHash: 0, excluding: tried) == nil)
    }

    @Test func downBackendsAreNotEligibleAndBackupsOnlyWhenEveryPrimaryIsDown() throws {
        let config = service(backends: [backend("mgmt1", port: 1), backend("mgmt2", port: 2, backup: true)])
        #expect(try table(config).eligible == [0])
        #expect(try table(config, healthy: [false, true]).eligible == [1])
        #expect(try table(config, healthy: [false, false]).eligible == [])
    }

    @Test func slowStartRampsTheWeightOfABackendThatJustCameBack() {
        var state = BackendState(weight: 10)
        state.eligibleSinceMs = 1_000
        #expect(BackendRegistry.effectiveWeight(state, slowStartMs: 10_000, nowMs: 1_000) == 1)
        #expect(BackendRegistry.effectiveWeight(state, slowStartMs: 10_000, nowMs: 6_000) == 5)
        #expect(BackendRegistry.effectiveWeight(state, slowStartMs: 10_000, nowMs: 11_000) == 10)
        #expect(BackendRegistry.effectiveWeight(state, slowStartMs: 0, nowMs: 1_000) == 10)
    }
}

@Suite struct RetryFallbackTests {
    @Test func whenThePrimaryRefusesTheRetryGoesToTheHealthyBackup() throws {
        let config = ServiceConfig(name: "management", listen: Endpoint(host: "127.0.0.1", port: 8080), strategy: "source-hash",
                                   backends: [BackendConfig(name: "mgmt1", address: Endpoint(host: "127.0.0.1", port: 1)),
                                              BackendConfig(name: "mgmt2", address: Endpoint(host: "127.0.0.1", port: 2), backup: true)])
        let table = try BackendRegistry.makeTable(id: 0, service: config, counters: { let store = ActiveCountStore(); return [BackendCounters(store: store), BackendCounters(store: store)] }(),
                                           states: [BackendState(weight: 1), BackendState(weight: 1)], nowMs: 1)
        let runtime = ServiceRuntime(table: table, traffic: TrafficStats())
        #expect(runtime.pick(clientHash: 42, excluding: []) == 0)
        #expect(runtime.pick(clientHash: 42, excluding: [0]) == 1)
        #expect(runtime.pick(clientHash: 42, excluding: [0, 1]) == nil)
    }

    /// A service whose primary is up but refuses (every client tried it), with its backups
    /// listed in `backups` order.
    private func runtimeWithBackups(_ backups: [String]) throws -> ServiceRuntime {
        let ports: [String: UInt16] = ["b1": 2, "b2": 3, "b3": 4]
        let backends = [BackendConfig(name: "p", address: Endpoint(host: "127.0.0.1", port: 1))]
            + backups.map { BackendConfig(name: $0, address: Endpoint(host: "127.0.0.1", port: ports[$0]!), backup: true) }
        let config = ServiceConfig(name: "management", listen: Endpoint(host: "127.0.0.1", port: 8080), strategy: "source-hash",
                                   backends: backends)
        let store = ActiveCountStore()
        let table = try BackendRegistry.makeTable(id: 0, service: config, counters: backends.map { _ in BackendCounters(store: store) },
                                                  states: backends.map { BackendState(weight: $0.weight) }, nowMs: 1)
        return ServiceRuntime(table: table, traffic: TrafficStats())
    }

    @Test func retriesIntoTheBackupTierSpreadOverItsBackendsAlikeOnEveryNode() throws {
        // Two nodes whose files list the backups in different orders: every retried client lands
        // on the same backup on both, and the three backups take about a third each (file
        // order sent them all to the first).
        let nodeA = try runtimeWithBackups(["b1", "b2", "b3"])
        let nodeB = try runtimeWithBackups(["b3", "b1", "b2"])
        var landed = [String: Int]()
        for client in 1...3000 {
            let hash = RetryDraw.hash(UInt64(client), attempt: 0)
            let a = try #require(nodeA.pick(clientHash: hash, excluding: [0]))
            let b = try #require(nodeB.pick(clientHash: hash, excluding: [0]))
            #expect(nodeA.table.backends[a].name == nodeB.table.backends[b].name)
            landed[nodeA.table.backends[a].name, default: 0] += 1
        }
        for backup in ["b1", "b2", "b3"] {
            #expect(abs(Double(landed[backup] ?? 0) / 3000 - 1.0 / 3) < 0.05, "\(landed)")
        }
    }

    @Test func retriesWithoutAClientHashSpreadOverTheBackupTierToo() throws {
        let node = try runtimeWithBackups(["b1", "b2", "b3"])
        var landed = [String: Int]()
        for _ in 0..<3000 {
            let picked = try #require(node.pick(clientHash: 0, excluding: [0]))
            landed[node.table.backends[picked].name, default: 0] += 1
        }
        for backup in ["b1", "b2", "b3"] {
            #expect(abs(Double(landed[backup] ?? 0) / 3000 - 1.0 / 3) < 0.05, "\(landed)")
        }
        // A retry never returns a backup already tried while another remains.
        #expect(node.pick(clientHash: 7, excluding: [0, 1, 2]) == 3)
        #expect(node.pick(clientHash: 7, excluding: [0, 1, 2, 3]) == nil)
    }
}
