import BasculeBalancing
import BasculeConfig

/// A backend as the relay needs it: where to connect, and what to call it in logs.
public struct BackendTarget: Sendable {
    public let name: String
    public let endpoint: Endpoint
    public let address: SocketAddress
    public let isBackup: Bool
}

/// Everything a worker reads to route one service's connections, built by the control thread
/// and never mutated: when membership, state or weights change a new table is built and
/// published to every worker, so workers never lock to pick a backend.
public final class ServiceTable: Sendable {
    /// Stable for the life of the service, across rebuilds and reloads (positions are not).
    public let id: Int
    public let config: ServiceConfig
    public let backends: [BackendTarget]
    public let counters: [BackendCounters]
    /// Indices (into `backends`) the strategy may return.
    public let eligible: [Int]
    /// Available backups while primaries are eligible: never picked first, only when a
    /// connection has tried every eligible primary (a primary that just died is still
    /// eligible until a check notices, and the client must not see it while a partner is up).
    public let standby: [Int]
    /// The strategy template; each worker copies it and mutates only its own copy.
    public let strategy: any BalancingStrategy

    public init(id: Int, config: ServiceConfig, backends: [BackendTarget], counters: [BackendCounters],
                eligible: [Int], standby: [Int] = [], strategy: any BalancingStrategy) {
        self.id = id
        self.config = config
        self.backends = backends
        self.counters = counters
        self.eligible = eligible
        self.standby = standby
        self.strategy = strategy
    }
}
