import BasculeConfig
import BasculeEventLoop
@testable import BasculeProxy
import Logging
import Testing

/// The registry's table builds, driven through the calls the health checks and the runtime
/// API make. No worker runs: published tables go nowhere, the registry's own copy is checked.
@Suite struct BackendRegistryTests {
    private func registry() throws -> BackendRegistry {
        let service = ServiceConfig(name: "publishing", listen: Endpoint(host: "127.0.0.1", port: 8081), strategy: "round-robin",
                                    backends: [BackendConfig(name: "pub1", address: Endpoint(host: "127.0.0.1", port: 1)),
                                               BackendConfig(name: "pub2", address: Endpoint(host: "127.0.0.1", port: 2))])
        return try BackendRegistry(services: [service], workerCount: 1, workers: WorkerMailboxes(),
                                   loop: try EventLoop(), log: Logger(label: "test"))
    }

    @Test func aStateChangeRebuildsTheTable() throws {
        let registry = try registry()
        #expect(registry.services[0].table.eligible == [0, 1])
        registry.setHealth(service: 0, backend: 1, healthy: false, reason: "test")
        #expect(registry.services[0].table.eligible == [0])
        #expect(registry.tableRebuildFailures == 0)
    }

    @Test func aTableThatCannotBeRebuiltIsCountedAndTheWorkersKeepThePreviousOne() throws {
        let registry = try registry()
        let before = registry.services[0].table
        // Validation makes this impossible from a file; a configuration the builder refuses
        // stands in for whatever a future change might make it refuse.
        registry.services[0].config.strategy = "no-such-strategy"
        registry.setHealth(service: 0, backend: 1, healthy: false, reason: "test")
        #expect(registry.tableRebuildFailures == 1)
        #expect(registry.services[0].table === before)
        #expect(registry.status()[0].backends[1].state == "down", "the state change itself is kept")
    }
}
