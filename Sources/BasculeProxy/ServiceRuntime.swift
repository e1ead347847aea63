import BasculeBalancing
import BasculeConfig

/// One worker's view of a service: the current table and the worker's own strategy copy.
final class ServiceRuntime {
    private(set) var table: ServiceTable
    let traffic: TrafficStats
    private var strategy: any BalancingStrategy
    private var load: SharedLoad
    var listener: Listener?

    private let seed: UInt64

    init(table: ServiceTable, traffic: TrafficStats, seed: UInt64 = 0) {
        self.table = table
        self.traffic = traffic
        self.seed = seed
        strategy = table.strategy
        strategy.reseed(seed)
        load = SharedLoad(counters: table.counters)
    }

    func update(_ table: ServiceTable) {
        self.table = table
        strategy = table.strategy
        strategy.reseed(seed)
        load = SharedLoad(counters: table.counters)
    }

    var wantsClientHash: Bool { table.config.affinity != .none }

    /// The strategy's choice, or on a retry the next eligible backend not tried yet (a hashing
    /// strategy would keep answering with the backend that just failed), then the available
    /// backups.
    func pick(clientHash: UInt64, excluding tried: [Int]) -> Int? {
        if let first = strategy.pick(PickContext(clientHash: clientHash), load: load),
           tried.isEmpty || !tried.contains(first) {
            return first
        }
        for candidate in table.eligible where !tried.contains(candidate) {
            return candidate
        }
        for candidate in table.fallback where !tried.contains(candidate) {
            return candidate
        }
        return nil
    }
}
