import BasculeBalancing
import BasculeConfig

/// One worker's view of a service: the current table and the worker's own strategy copy.
final class ServiceRuntime {
    private(set) var table: ServiceTable
    let traffic: TrafficStats
    private var strategy: any BalancingStrategy
    private var load: SharedLoad
    var listener: Listener?

    init(table: ServiceTable, traffic: TrafficStats) {
        self.table = table
        self.traffic = traffic
        strategy = table.strategy
        load = SharedLoad(counters: table.counters)
    }

    func update(_ table: ServiceTable) {
        self.table = table
        strategy = table.strategy
        load = SharedLoad(counters: table.counters)
    }

    var wantsClientHash: Bool { table.config.affinity != .none }

    /// The strategy's choice, or on a retry the next eligible backend not tried yet (a hashing
    /// strategy would keep answering with the backend that just failed), then an available backup.
    func pick(clientHash: UInt64, excluding tried: [Int]) -> Int? {
        guard let first = strategy.pick(PickContext(clientHash: clientHash), load: load) else { return nil }
        if tried.isEmpty || !tried.contains(first) { return first }
        for candidate in table.eligible where !tried.contains(candidate) {
            return candidate
        }
        // Every eligible primary failed this connection: a healthy backup is better than an error.
        for candidate in table.standby where !tried.contains(candidate) {
            return candidate
        }
        return nil
    }
}
