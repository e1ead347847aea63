import BasculeBalancing
import BasculeConfig
import BasculePosix
import CLinux

/// A backend as the relay needs it: where to connect, and what to call it in logs.
public struct BackendTarget: Sendable {
    public let name: String
    public let endpoint: Endpoint
    public let address: SocketAddress
    /// 0 for a primary, 1 for `backup: true`, higher for later tiers.
    public let tier: Int

    public var isBackup: Bool { tier > 0 }
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
    /// Where every one of `counters` keeps its active count.
    let activeCounts: ActiveCountStore
    /// Indices (into `backends`) the strategy may return.
    public let eligible: [Int]
    /// The tier `eligible` is drawn from (nil: no backend is available).
    public let activeTier: Int?
    /// Available backends outside `eligible` (later tiers while an earlier one is up), lowest tier first, tried in order
    /// only when a connection's retries have exhausted the eligible ones: a client must not
    /// see a refusal while a healthy backend remains.
    public let fallback: [Int]
    /// `fallback` by tier, lowest first: a retry into a later tier is a weighted draw among that
    /// tier's untried backends, as in the eligible tier, not its first backend in the file.
    let fallbackTiers: [RetryDraw]
    /// The strategy template; each worker copies it and mutates only its own copy.
    public let strategy: Strategy
    /// nil when the service has no allow/deny rules.
    let accessList: AccessList?
    /// The upstream balancers whose PROXY headers are believed; nil when any peer is.
    let trustedProxies: AccessList?
    /// Per backend, its `maxConnections` (0: none).
    let backendLimits: [Int]
    let hasBackendLimits: Bool
    let limits: ServiceLimits
    /// When the oldest backend state change this table carries was noted (monotonic ns); 0
    /// for a table made by a configuration. Workers record in `installs` how long it took
    /// to reach them.
    let changedAtNs: UInt64
    let installs: TableInstallLatency?

    init(id: Int, config: ServiceConfig, backends: [BackendTarget], counters: [BackendCounters],
                eligible: [Int], activeTier: Int? = 0, fallback: [Int] = [], fallbackTiers: [RetryDraw] = [],
                strategy: Strategy, accessList: AccessList? = nil, limits: ServiceLimits = ServiceLimits(perClient: false),
                installs: TableInstallLatency? = nil) {
        self.id = id
        self.config = config
        self.backends = backends
        self.counters = counters
        activeCounts = counters.first?.store ?? .empty
        self.eligible = eligible
        self.activeTier = activeTier
        self.fallback = fallback
        self.fallbackTiers = fallbackTiers
        self.strategy = strategy
        self.accessList = accessList
        self.trustedProxies = config.acceptProxyProtocol && !config.trustedProxies.isEmpty
            ? AccessList(allow: config.trustedProxies, deny: []) : nil
        self.backendLimits = config.backends.map { $0.maxConnections ?? 0 }
        self.hasBackendLimits = backendLimits.contains { $0 > 0 }
        self.limits = limits
        changedAtNs = 0
        self.installs = installs
    }

    /// The table after a backend state change: only what state decides is new; the rest
    /// (addresses, counters, access lists, limits) is the previous table's, shared, not rebuilt.
    init(replacing previous: ServiceTable, eligible: [Int], activeTier: Int?, fallback: [Int], fallbackTiers: [RetryDraw],
         strategy: Strategy, changedAtNs: UInt64) {
        id = previous.id
        config = previous.config
        backends = previous.backends
        counters = previous.counters
        activeCounts = previous.activeCounts
        self.eligible = eligible
        self.activeTier = activeTier
        self.fallback = fallback
        self.fallbackTiers = fallbackTiers
        self.strategy = strategy
        accessList = previous.accessList
        trustedProxies = previous.trustedProxies
        backendLimits = previous.backendLimits
        hasBackendLimits = previous.hasBackendLimits
        limits = previous.limits
        self.changedAtNs = changedAtNs
        installs = previous.installs
    }

    /// A worker has put this table in place of the previous one.
    func noteInstalled() {
        guard changedAtNs != 0, let installs else { return }
        installs.record(nanoseconds: cl_monotonic_ns() &- changedAtNs)
    }
}
