import BasculeBalancing
import BasculeConfig

/// One worker's view of a service: the current table and the worker's own strategy copy.
final class ServiceRuntime {
    private(set) var table: ServiceTable
    let traffic: TrafficStats
    /// This worker's own copy of the table's strategy: only this thread picks from it, and
    /// only this thread replaces it (in `update`, never during a pick).
    private var strategy: StrategyCopy
    var listener: Listener?

    /// The settings every connection reads, copied out of the table: reading them through
    /// `table` (a class reference) costs a retain and a release each time.
    private(set) var connectTimeoutMs: UInt64 = 0
    private(set) var idleTimeoutMs: UInt64 = 0
    private(set) var retries = 0
    private(set) var acceptsProxyHeader = false
    private(set) var proxyProtocol: ProxyProtocolVersion?
    private(set) var keepAliveIdleSeconds: Int32 = 0
    private(set) var keepAliveIntervalSeconds: Int32 = 0
    private(set) var backendUserTimeoutMs: Int32 = 0

    private let seed: UInt64
    /// Draws into a later tier by connections without a client hash, so they spread too.
    private var fallbackDraws: UInt64 = 0

    init(table: ServiceTable, traffic: TrafficStats, seed: UInt64 = 0) {
        self.table = table
        self.traffic = traffic
        self.seed = seed
        strategy = StrategyCopy(table: table, seed: seed)
        update(table)
    }

    func update(_ table: ServiceTable) {
        self.table = table
        strategy = StrategyCopy(table: table, seed: seed)
        connectTimeoutMs = UInt64(table.config.connectTimeoutMs)
        idleTimeoutMs = UInt64(table.config.idleTimeoutMs)
        retries = table.config.retries
        acceptsProxyHeader = table.config.acceptProxyProtocol
        proxyProtocol = table.config.proxyProtocol
        let keepAlive = table.config.keepAlive
        keepAliveIdleSeconds = Int32(keepAlive.isEnabled ? keepAlive.idleSeconds : 0)
        keepAliveIntervalSeconds = Int32(keepAlive.intervalSeconds)
        backendUserTimeoutMs = Int32(clamping: keepAlive.effectiveUserTimeoutMs)
    }

    var wantsClientHash: Bool { table.config.affinity != .none }

    /// The strategy's choice, never one already tried: a retry is a new pick with the attempt
    /// number, spread over the untried backends the same way on every node. A backend at its
    /// `maxConnections` counts as tried for this pick. Only when every eligible backend has
    /// been tried (or is full) do the available backups outside them get a turn, tier by tier.
    func pick(clientHash: UInt64, excluding tried: [Int]) -> Int? {
        // A first choice builds no tried list (no retain of `tried` on every connection).
        // Borrowed unretained: `strategy` is replaced only by `update`, on this thread.
        if tried.isEmpty,
            let first = Unmanaged.passUnretained(strategy)._withUnsafeGuaranteedRef({ $0.pick(PickContext(clientHash: clientHash)) }),
            hasRoom(first)
        {
            return first
        }
        return pickAgain(clientHash: clientHash, excluding: tried)
    }

    @inline(never)
    private func pickAgain(clientHash: UInt64, excluding tried: [Int]) -> Int? {
        var context = PickContext(clientHash: clientHash, attempt: tried.count, tried: tried)
        let strategy = strategy
        while let candidate = strategy.pick(context) {
            if hasRoom(candidate) { return candidate }
            context.tried.append(candidate)
        }
        // Later tiers, lowest first, each drawn like a retry in the eligible tier: by the client's
        // hash per attempt when the service has affinity (the same backend on every node), by
        // this worker's own sequence otherwise; never all retried clients onto one backend.
        var excluded = context.tried
        for tier in table.fallbackTiers {
            while let candidate = tier.draw(hash: fallbackHash(clientHash, attempt: excluded.count), excluding: excluded) {
                if hasRoom(candidate) { return candidate }
                excluded.append(candidate)
            }
        }
        return nil
    }

    private func fallbackHash(_ clientHash: UInt64, attempt: Int) -> UInt64 {
        guard clientHash == 0 else { return RetryDraw.hash(clientHash, attempt: attempt) }
        fallbackDraws &+= 1
        return RetryDraw.hash(seed ^ fallbackDraws, attempt: attempt)
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
