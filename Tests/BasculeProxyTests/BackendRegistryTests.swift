import BasculeConfig
import BasculeEventLoop
@testable import BasculeProxy
import Logging
import Testing

/// The registry's table builds, driven through the calls the health checks and the runtime
/// API make, on a real control loop. No worker thread runs: a test mailbox stands in for one
/// and shows exactly what the workers would receive.
@Suite struct BackendRegistryTests {
    private struct Rig {
        let registry: BackendRegistry
        let loop: EventLoop
        let worker: Mailbox<WorkerMessage>

        /// One turn of the control loop with nothing ready: what the turn's end publishes.
        func endTurn() throws {
            try loop.runOnce(maxWaitMs: 0)
        }

        /// Turns of the loop until every change is out (a table that waits for its turn goes
        /// out on the registry's timer): bounded, the wait is a few build costs.
        func settle() throws {
            for _ in 0..<100 where registry.hasPending {
                try loop.runOnce(maxWaitMs: 20)
            }
            #expect(!registry.hasPending)
        }

        /// What a worker would have received since the last call, in order.
        func received() -> [WorkerMessage] {
            worker.drain()
        }

        func tables() -> [ServiceTable] {
            received().compactMap { if case .table(let table) = $0 { table } else { nil } }
        }
    }

    private func rig(backends count: Int = 2, configure: (inout ServiceConfig) -> Void = { _ in }) throws -> Rig {
        var service = ServiceConfig(name: "publishing", listen: Endpoint(host: "127.0.0.1", port: 8081), strategy: "round-robin",
                                    backends: (0..<count).map { BackendConfig(name: "pub\($0)", address: Endpoint(host: "127.0.0.1", port: UInt16(1 + $0))) })
        configure(&service)
        let loop = try EventLoop()
        let workers = WorkerMailboxes()
        let mailbox = try Mailbox<WorkerMessage>()
        workers.add(mailbox)
        let registry = try BackendRegistry(services: [service], workerCount: 1, workers: workers, loop: loop, log: Logger(label: "test"))
        return Rig(registry: registry, loop: loop, worker: mailbox)
    }

    @Test func aStateChangeRebuildsTheTableAtTheEndOfTheLoopTurn() throws {
        let rig = try rig()
        #expect(rig.registry.services[0].table.eligible == [0, 1])
        rig.registry.setHealth(service: 0, backend: 1, healthy: false, reason: "test")
        try rig.endTurn()
        #expect(rig.registry.services[0].table.eligible == [0])
        #expect(rig.tables().map(\.eligible) == [[0]])
        #expect(rig.registry.tableRebuildFailures == 0)
    }

    @Test func manyChangesInOneLoopTurnReachTheWorkersAsOneTable() throws {
        let rig = try rig(backends: 1_000)
        for backend in stride(from: 0, to: 1_000, by: 2) {
            rig.registry.setHealth(service: 0, backend: backend, healthy: false, reason: "check failed")
        }
        try rig.endTurn()
        let tables = rig.tables()
        #expect(tables.count == 1, "500 changes of one turn, one table")
        #expect(tables.first?.eligible == Array(stride(from: 1, to: 1_000, by: 2)))
        #expect(rig.registry.stateChanges == 500)
        #expect(rig.registry.tablesPublished == 1)
        try rig.endTurn()
        #expect(rig.tables().isEmpty, "nothing changed since: nothing is published")
    }

    @Test func aStateChangeKeepsTheAddressesAndAccessListItWasConfiguredWith() throws {
        let rig = try rig(backends: 100) { service in
            service.deny = [CIDRBlock("203.0.113.0/24")!]
        }
        let before = rig.registry.services[0].table
        let partsBuilt = rig.registry.partsBuilt
        for turn in 0..<10 {
            rig.registry.setHealth(service: 0, backend: turn, healthy: false, reason: "check failed")
            try rig.endTurn()
        }
        try rig.settle()
        let after = rig.registry.services[0].table
        #expect(after !== before)
        #expect(rig.registry.partsBuilt == partsBuilt, "no backend address or access list was prepared again")
        // The very same storage, not an equal copy: nothing was re-parsed or re-made.
        #expect(after.backends.withUnsafeBufferPointer { $0.baseAddress } == before.backends.withUnsafeBufferPointer { $0.baseAddress })
        #expect(after.backendLimits.withUnsafeBufferPointer { $0.baseAddress } == before.backendLimits.withUnsafeBufferPointer { $0.baseAddress })
        #expect(after.accessList?.permits(SocketAddress(Endpoint(host: "203.0.113.9", port: 1))) == false)
        #expect(after.eligible == Array(10..<100))
    }

    @Test func connectionsToABackendTakenDownAreResetAfterTheTableWithoutIt() throws {
        let rig = try rig(backends: 3) { $0.onBackendDown = .reset }
        rig.registry.setHealth(service: 0, backend: 2, healthy: false, reason: "check failed")
        rig.registry.setHealth(service: 0, backend: 1, healthy: false, reason: "check failed")
        #expect(rig.received().isEmpty, "nothing before the turn ends")
        try rig.endTurn()
        let messages = rig.received()
        guard messages.count == 2, case .table(let table) = messages[0], case .resetConnections(let counters, .backendDown) = messages[1] else {
            Issue.record("expected the table, then the resets: \(messages)")
            return
        }
        #expect(table.eligible == [0])
        #expect(counters.map { ObjectIdentifier($0) } == [2, 1].map { ObjectIdentifier(rig.registry.services[0].counters[$0]) })
    }

    @Test func anOperatorsChangeIsPublishedBeforeTheCallReturns() throws {
        let rig = try rig()
        rig.registry.setAdminState(service: 0, backend: 0, .draining, reason: "operator")
        #expect(rig.tables().map(\.eligible) == [[1]])
        rig.registry.setWeight(service: 0, backend: 1, weight: 5, reason: "operator")
        #expect(rig.tables().count == 1)
    }

    @Test func theWorkersRecordHowLongAChangeTookToReachThem() throws {
        let rig = try rig()
        rig.registry.setHealth(service: 0, backend: 1, healthy: false, reason: "check failed")
        try rig.endTurn()
        for table in rig.tables() { table.noteInstalled() }
        let installs = rig.registry.installLatency.snapshot()
        #expect(installs.count == 1)
        #expect(installs.sumSeconds > 0 && installs.sumSeconds < 5)
    }

    @Test func aTableThatCannotBeRebuiltIsCountedAndTheWorkersKeepThePreviousOne() throws {
        let rig = try rig()
        let before = rig.registry.services[0].table
        // Validation makes this impossible from a file; a configuration the builder refuses
        // stands in for whatever a future change might make it refuse.
        rig.registry.services[0].config.strategy = "no-such-strategy"
        rig.registry.setHealth(service: 0, backend: 1, healthy: false, reason: "test")
        try rig.endTurn()
        #expect(rig.registry.tableRebuildFailures == 1)
        #expect(rig.registry.services[0].table === before)
        #expect(rig.tables().isEmpty)
        #expect(rig.registry.status()[0].backends[1].state == "down", "the state change itself is kept")
    }

    @Test func aBackendThatComesBackRampsUpButAWeightChangeDoesNotRestartItsRamp() throws {
        let rig = try rig { $0.slowStartMs = 60_000 }
        rig.registry.setWeight(service: 0, backend: 0, weight: 10, reason: "operator")
        #expect(rig.registry.status()[0].backends[0].effectiveWeight == 10, "serving since start: no ramp")
        rig.registry.setHealth(service: 0, backend: 1, healthy: false, reason: "check failed")
        rig.registry.setHealth(service: 0, backend: 1, healthy: true, reason: "check ok")
        rig.registry.setWeight(service: 0, backend: 1, weight: 10, reason: "operator")
        #expect(rig.registry.status()[0].backends[1].effectiveWeight == 1, "back from down: ramps from 1")
    }
}
