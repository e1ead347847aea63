import BasculeBalancing
import BasculeConfig
import BasculePosix

/// The control thread's record of one running service: its configuration, the state and
/// counters of its backends (parallel to `config.backends`), the table last published to the
/// workers, and the workers' traffic counters for it.
final class ServiceEntry {
    let id: Int
    var config: ServiceConfig
    /// What every table of this configuration shares: prepared once, not per state change.
    let parts: TableParts
    let counters: [BackendCounters]
    var states: [BackendState]
    var table: ServiceTable
    /// One per worker.
    let traffic: [TrafficStats]
    var limits: ServiceLimits
    var boundAddress: SocketAddress?
    /// Position of each backend by name, and by its counters (what a worker's report names).
    let backendPositions: [String: Int]
    let counterPositions: [ObjectIdentifier: Int]
    /// When the oldest change `table` does not carry yet was noted (monotonic ns), 0 when
    /// the table is current.
    var pendingSinceNs: UInt64 = 0
    /// Open connections to reset once the table without their backends is out.
    var pendingResets: [BackendCounters] = []
    /// The next table may go out from then on (monotonic ns); see `publishPending`.
    var nextPublishAtNs: UInt64 = 0

    init(id: Int, config: ServiceConfig, parts: TableParts, counters: [BackendCounters], states: [BackendState],
         table: ServiceTable, traffic: [TrafficStats], limits: ServiceLimits) {
        self.id = id
        self.config = config
        self.parts = parts
        self.counters = counters
        self.states = states
        self.table = table
        self.traffic = traffic
        self.limits = limits
        var positions: [String: Int] = [:]
        for (index, backend) in config.backends.enumerated() { positions[backend.name] = index }
        backendPositions = positions
        var byCounters: [ObjectIdentifier: Int] = [:]
        for (index, counter) in counters.enumerated() { byCounters[ObjectIdentifier(counter)] = index }
        counterPositions = byCounters
    }
}

/// The parts of a service's table that no backend state changes: where each backend is (its
/// address as bytes, from the configuration), what strategies know it by, and the access
/// list. Built when a configuration is applied; every table of that configuration shares them.
struct TableParts {
    let targets: [BackendTarget]
    /// Weight 1 here; the table build sets the weight in force.
    let entries: [BackendEntry]
    /// nil when the service has no allow/deny rules.
    let accessList: AccessList?

    init(_ service: ServiceConfig, counters: [BackendCounters]) {
        targets = service.backends.map { backend in
            BackendTarget(name: backend.name, endpoint: backend.address, address: SocketAddress(backend.address), tier: backend.tier)
        }
        entries = service.backends.enumerated().map { index, backend in
            BackendEntry(index: index, name: backend.name, address: backend.address.description,
                         slot: counters[index].slot)
        }
        let list = AccessList(allow: service.allow, deny: service.deny)
        accessList = list.permitsEveryone ? nil : list
    }
}
