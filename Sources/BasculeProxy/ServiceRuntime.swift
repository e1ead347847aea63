import BasculeBalancing
import BasculeConfig

/// One worker's view of a service: the current table and the worker's own strategy copy.
final class ServiceRuntime {
    private(set) var table: ServiceTable
    let traffic: TrafficStats
    /// Mutated by every pick, through its protocol, so the access spans a call. Unchecked:
    /// only this worker's thread picks, and a pick never comes back to the runtime.
    @exclusivity(unchecked) private var strategy: any BalancingStrategy
    private var load: SharedLoad
    var listener: Listener?

    /// The settings every connection reads, copied out of the table: reading them through
    /// `table` (a class reference) costs a retain and a release each time.
    private(set) var connectTimeoutMs: UInt64 = 0
    private(set) var idleTimeoutMs: UInt64 = 0
    private(set) var retries = 0
    private(set) var acceptsProxyHeader = false
    private(set) var proxyProtocol: ProxyProtocolVersion?

    private let seed: UInt64

    init(table: ServiceTable, traffic: TrafficStats, seed: UInt64 = 0) {
        self.table = table
        self.traffic = traffic
        self.seed = seed
        strategy = table.strategy
        load = SharedLoad(counters: table.counters)
        update(table)
    }

    func update(_ table: ServiceTable) {
        self.table = table
        strategy = table.strategy
        strategy.reseed(seed)
        load = SharedLoad(counters: table.counters)
        connectTimeoutMs = UInt64(table.config.connectTimeoutMs)
        idleTimeoutMs = UInt64(table.config.idleTimeoutMs)
        retries = table.config.retries
        acceptsProxyHeader = table.config.acceptProxyProtocol
        proxyProtocol = table.config.proxyProtocol
    }

    var wantsClientHash: Bool { table.config.affinity != .none }

    /// The strategy's choice, or on a retry the next eligible backend not tried yet (a hashing
    /// strategy would keep answering with the backend that just failed), then the available
    /// backups.
    func pick(clientHash: UInt64, excluding tried: [Int]) -> Int? {
        if let first = strategy.pick(PickContext(clientHash: clientHash), load: load),
           tried.isEmpty || !tried.contains(first), hasRoom(first) {
            return first
        }
        for candidate in table.eligible where !tried.contains(candidate) && hasRoom(candidate) {
            return candidate
        }
        for candidate in table.fallback where !tried.contains(candidate) && hasRoom(candidate) {
            return candidate
        }
        return nil
    }

    /// A backend at its own `maxConnections` is skipped. Workers check without coordinating,
    /// so a backend can exceed its limit by at most the number of workers minus one.
    @inline(__always)
    private func hasRoom(_ backend: Int) -> Bool {
        guard table.hasBackendLimits, table.backendLimits[backend] > 0 else { return true }
        return table.counters[backend].active.load(ordering: .relaxed) < table.backendLimits[backend]
    }

    /// True when the service has eligible backends but every one is at its limit.
    var everyBackendFull: Bool {
        table.hasBackendLimits && !table.eligible.isEmpty && !table.eligible.contains { hasRoom($0) }
            && !table.fallback.contains { hasRoom($0) }
    }
}
