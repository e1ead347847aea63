import BasculeBalancing
import BasculeConfig
import BasculeEventLoop
import CLinux
import Glibc
import Logging

/// The control thread's record of every service and backend: health (checks, and passive
/// checks on client traffic), admin state and weight (runtime API), slow start. A change is
/// noted at once; the service's table is rebuilt (one O(n) pass) and published to the workers
/// at the end of the loop turn, once for every change of the turn. Workers never see this state.
public final class BackendRegistry: EventHandler {
    let loop: EventLoop
    let workerCount: Int
    let log: Logger
    private let workers: WorkerMailboxes
    private var id = HandlerID.unregistered
    /// In configuration order; positions are what the admin API and health checks address.
    var services: [ServiceEntry] = []
    private var nextServiceID = 0
    private var rampTimerAt: UInt64 = .max
    private var publishTimerAt: UInt64 = .max
    /// Some service has a change its table does not carry yet.
    private(set) var hasPending = false
    /// Table rebuilds that failed after a state change; the workers keep the previous table.
    public private(set) var tableRebuildFailures = 0
    /// Backend state changes noted, tables published to the workers for them (fewer: changes
    /// of one turn share a table), tables built (reloads included), and the state-independent
    /// parts (addresses, names, access list) prepared: once per service per configuration.
    public private(set) var stateChanges = 0
    public private(set) var tablesPublished = 0
    public private(set) var tablesBuilt = 0
    public private(set) var partsBuilt = 0
    /// How long a change takes to reach the workers' tables; workers record into it.
    public let installLatency = TableInstallLatency()

    /// Told when client traffic (not an active check) took a backend down, so the active
    /// checker knows it must see `rise` good checks before the backend returns.
    public var onPassiveDown: ((_ service: Int, _ backend: Int) -> Void)?

    /// Told of every table published to the workers, with which backends keep the flows they
    /// have: the kernel data plane writes the same table into its maps (see `KernelTables`).
    public var onTablePublished: ((_ table: ServiceTable, _ keepingFlows: [Bool]) -> Void)?

    init(services: [ServiceConfig], workerCount: Int, workers: WorkerMailboxes, loop: EventLoop, log: Logger) throws {
        self.loop = loop
        self.workerCount = workerCount
        self.workers = workers
        self.log = log
        id = loop.register(self)
        self.services = try services.map { try makeEntry($0, carrying: nil) }
        // Changes noted while the loop dispatched this turn's events and timers go out
        // together once it has.
        loop.afterIteration = { [unowned self] in self.publishPending() }
    }

    func makeEntry(_ service: ServiceConfig, carrying old: ServiceEntry?) throws -> ServiceEntry {
        var counters: [BackendCounters] = []
        var states: [BackendState] = []
        // By name and address, once: a lookup per backend into the old pool would make a
        // reload of a large pool quadratic.
        var previous: [String: Int] = [:]
        if let old {
            for (index, backend) in old.config.backends.enumerated() { previous[backend.name] = index }
        }
        let activeCounts = old?.counters.first?.store ?? ActiveCountStore()
        for backend in service.backends {
            // A backend that keeps its name and address keeps its counters and its health:
            // a reload must not reset what the checks have learnt.
            if let old, let index = previous[backend.name], old.config.backends[index].address == backend.address {
                counters.append(old.counters[index])
                var state = old.states[index]
                state.weight = backend.weight
                if backend.agent == nil { state.agent = nil }
                states.append(state)
            } else {
                counters.append(BackendCounters(workers: workerCount, store: activeCounts))
                states.append(BackendState(weight: backend.weight, lastChangeAtMs: loop.nowMs))
            }
        }
        let id: Int
        if let old {
            id = old.id
        } else {
            id = nextServiceID
            nextServiceID += 1
        }
        // Kept across reloads so open connections and new ones count against the same limits;
        // replaced only when per-client counting is switched on.
        var limits = old?.limits ?? ServiceLimits(perClient: service.maxConnectionsPerClient != nil)
        if service.maxConnectionsPerClient != nil && limits.perClient == nil {
            limits = ServiceLimits(perClient: true)
        }
        let parts = TableParts(service, counters: counters)
        partsBuilt += 1
        let table = try Self.makeTable(id: id, service: service, parts: parts, counters: counters, states: states,
                                       nowMs: loop.nowMs, limits: limits, installs: installLatency)
        tablesBuilt += 1
        let traffic = old?.traffic ?? (0..<workerCount).map { _ in TrafficStats() }
        let entry = ServiceEntry(id: id, config: service, parts: parts, counters: counters, states: states, table: table,
                                 traffic: traffic, limits: limits)
        entry.boundAddress = old?.boundAddress
        return entry
    }

    /// A table built from nothing (tests, tools): the configuration's addresses and access
    /// list are prepared here, which a running registry does once per configuration.
    static func makeTable(id: Int, service: ServiceConfig, counters: [BackendCounters],
                          states: [BackendState], nowMs: UInt64,
                          limits: ServiceLimits = ServiceLimits(perClient: false)) throws -> ServiceTable {
        try makeTable(id: id, service: service, parts: TableParts(service, counters: counters), counters: counters, states: states,
                      nowMs: nowMs, limits: limits)
    }

    /// One pass over the backends: O(n) in the pool, plus the strategy's own build. What
    /// does not depend on state (addresses, names, the access list) comes from `parts` or
    /// from the table it replaces, never from the configuration's text again.
    static func makeTable(id: Int, service: ServiceConfig, parts: TableParts, counters: [BackendCounters],
                          states: [BackendState], nowMs: UInt64, limits: ServiceLimits,
                          replacing previous: ServiceTable? = nil, changedAtNs: UInt64 = 0,
                          installs: TableInstallLatency? = nil) throws -> ServiceTable {
        let weights = tableWeights(states, slowStartMs: service.slowStartMs, nowMs: nowMs)
        var activeTier: Int?
        for index in states.indices where states[index].isEligible {
            let tier = parts.targets[index].tier
            if activeTier == nil || tier < activeTier! { activeTier = tier }
        }
        var eligible: [BackendEntry] = []
        var eligibleIndices: [Int] = []
        var fallback: [Int] = []
        if let activeTier {
            for index in states.indices where states[index].isEligible {
                if parts.targets[index].tier == activeTier {
                    var entry = parts.entries[index]
                    entry.weight = max(1, weights[index])
                    eligible.append(entry)
                    eligibleIndices.append(index)
                } else {
                    fallback.append(index)
                }
            }
        }
        // Later tiers, lowest first; within a tier, configuration order (the sort is stable).
        if fallback.count > 1 { fallback.sort { parts.targets[$0].tier < parts.targets[$1].tier } }
        // One weighted draw per later tier, so retries into the backups spread as in the eligible tier.
        var fallbackTiers: [RetryDraw] = []
        var tierEntries: [BackendEntry] = []
        for (position, index) in fallback.enumerated() {
            var entry = parts.entries[index]
            entry.weight = max(1, weights[index])
            tierEntries.append(entry)
            let tierEnds = position + 1 == fallback.count || parts.targets[fallback[position + 1]].tier != parts.targets[index].tier
            if tierEnds {
                fallbackTiers.append(RetryDraw(backends: tierEntries))
                tierEntries.removeAll(keepingCapacity: true)
            }
        }
        guard let strategy = StrategyRegistry.make(named: service.strategy, backends: eligible, options: StrategyOptions()) else {
            throw StartupError(description: "service \(service.name): unknown strategy \"\(service.strategy)\"")
        }
        if let previous {
            return ServiceTable(replacing: previous, eligible: eligibleIndices, activeTier: activeTier, fallback: fallback,
                                fallbackTiers: fallbackTiers, strategy: strategy, changedAtNs: changedAtNs)
        }
        return ServiceTable(id: id, config: service, backends: parts.targets, counters: counters,
                            eligible: eligibleIndices, activeTier: activeTier, fallback: fallback,
                            fallbackTiers: fallbackTiers, strategy: strategy,
                            accessList: parts.accessList, limits: limits, installs: installs)
    }

    static func effectiveWeight(_ state: BackendState, slowStartMs: Int, nowMs: UInt64) -> Int {
        guard slowStartMs > 0, state.eligibleSinceMs > 0 else { return state.weight }
        let elapsed = nowMs >= state.eligibleSinceMs ? Int(nowMs - state.eligibleSinceMs) : 0
        return SlowStart.effectiveWeight(configured: state.weight, elapsedMs: elapsed, slowStartMs: slowStartMs)
    }

    // MARK: Changes from checks and the runtime API

    /// Health checks report here (service and backend are positions in the configuration).
    /// The table follows at the end of the loop turn, with every other change of the turn.
    public func setHealth(service: Int, backend: Int, healthy: Bool, reason: String) {
        guard services.indices.contains(service), services[service].states.indices.contains(backend),
              services[service].states[backend].healthy != healthy else { return }
        let entry = services[service]
        entry.states[backend].healthy = healthy
        let nowMs = loop.nowMs
        if healthy {
            entry.states[backend].upTransitions += 1
            entry.states[backend].downtimeMs += nowMs &- entry.states[backend].downSinceMs
        } else {
            entry.states[backend].downTransitions += 1
            entry.states[backend].downSinceMs = nowMs
        }
        // Sent after the table without it (the mailbox keeps order), so the clients that
        // reconnect at once are not sent back to it.
        if !healthy && entry.config.onBackendDown == .reset {
            entry.pendingResets.append(entry.counters[backend])
        }
        noteChange(entry, backend: backend, reason: reason)
    }

    /// The runtime API: drain, disable, enable. Published before the answer goes out, so an
    /// operator who reads "draining" knows no worker picks the backend any more.
    public func setAdminState(service: Int, backend: Int, _ admin: AdminState, reason: String) {
        guard services.indices.contains(service), services[service].states.indices.contains(backend),
              services[service].states[backend].admin != admin else { return }
        services[service].states[backend].admin = admin
        noteChange(services[service], backend: backend, reason: reason)
        publish(services[service])
    }

    public func setWeight(service: Int, backend: Int, weight: Int, reason: String) {
        guard services.indices.contains(service), services[service].states.indices.contains(backend), weight >= 1 else { return }
        services[service].states[backend].weight = weight
        noteChange(services[service], backend: backend, reason: reason)
        publish(services[service])
    }

    /// Whether the backend is currently considered healthy (health checks seed from this).
    public func isHealthy(service: Int, backend: Int) -> Bool {
        guard services.indices.contains(service), services[service].states.indices.contains(backend) else { return false }
        return services[service].states[backend].healthy
    }

    public func serviceIndex(named name: String) -> Int? {
        services.firstIndex { $0.config.name == name }
    }

    public func backendIndex(service: Int, named name: String) -> Int? {
        guard services.indices.contains(service) else { return nil }
        return services[service].backendPositions[name]
    }

    /// Records the change and marks the service for publishing; O(1), nothing is rebuilt here.
    func noteChange(_ entry: ServiceEntry, backend: Int, reason: String) {
        entry.states[backend].lastChangeReason = reason
        entry.states[backend].lastChangeAtMs = loop.nowMs
        // Eligible now and not before this change: it starts its slow start.
        let eligible = entry.states[backend].isEligible
        if eligible && !entry.states[backend].wasEligible {
            entry.states[backend].eligibleSinceMs = max(1, loop.nowMs)
        }
        entry.states[backend].wasEligible = eligible
        stateChanges += 1
        log.notice("backend state changed", metadata: [
            "service": "\(entry.config.name)", "backend": "\(entry.config.backends[backend].name)",
            "state": "\(Self.stateName(entry.states[backend]))", "reason": "\(reason)",
        ])
        if entry.pendingSinceNs == 0 { entry.pendingSinceNs = cl_monotonic_ns() }
        hasPending = true
    }

    /// A worker's connect failed; the counters identify the backend across table rebuilds
    /// and reloads.
    func connectFailed(counters: BackendCounters, errno code: Int32) {
        for (position, entry) in services.enumerated() {
            if let backend = entry.counterPositions[ObjectIdentifier(counters)] {
                passiveCheck(service: position, backend: backend, errno: code)
            }
        }
    }

    /// Consecutive connect failures on real traffic take a backend out at once, without
    /// waiting for the next active check. Only where an active check exists: it is what brings
    /// the backend back.
    private func passiveCheck(service: Int, backend: Int, errno code: Int32) {
        let entry = services[service]
        guard entry.config.healthCheck.type != .none, entry.states[backend].healthy else { return }
        let failures = entry.counters[backend].consecutiveFailures.load(ordering: .relaxed)
        guard failures >= entry.config.healthCheck.fall else { return }
        let reason = code == ETIMEDOUT ? "connect timeout" : SystemError(errno: code, call: "connect").reason.lowercased()
        setHealth(service: service, backend: backend, healthy: false,
                  reason: "passive: \(failures) consecutive connect failures on client traffic (\(reason))")
        onPassiveDown?(service, backend)
    }

    // MARK: Publishing tables

    /// Publishes every service changed since the last turn: one table per service however
    /// many of its backends changed. A service whose last build was expensive waits until
    /// nine times that build's cost has passed, so a flapping pool of any size spends at most
    /// a tenth of the control thread on tables; a small pool (builds of microseconds) never
    /// waits. Runs after every turn of the control loop, and on the registry's timer.
    public func publishPending() {
        guard hasPending else { return }
        hasPending = false
        let nowNs = cl_monotonic_ns()
        var wakeAtNs = UInt64.max
        for entry in services where entry.pendingSinceNs != 0 {
            if nowNs >= entry.nextPublishAtNs {
                publish(entry)
            } else {
                hasPending = true
                wakeAtNs = min(wakeAtNs, entry.nextPublishAtNs)
            }
        }
        if wakeAtNs != .max {
            // The wheel counts in milliseconds; round up so the timer never fires early.
            let atMs = loop.nowMs + (wakeAtNs - nowNs + 999_999) / 1_000_000
            if atMs < publishTimerAt {
                publishTimerAt = atMs
                loop.schedule(id, atMs: atMs)
            }
        }
    }

    /// Builds the service's table from its states and hands it to every worker, then the
    /// resets that wait for it. A build that fails leaves the workers on the previous table:
    /// logged and counted, never silent.
    func publish(_ entry: ServiceEntry) {
        let startedNs = cl_monotonic_ns()
        let changedAtNs = entry.pendingSinceNs != 0 ? entry.pendingSinceNs : startedNs
        entry.pendingSinceNs = 0
        let table: ServiceTable
        do {
            table = try Self.makeTable(id: entry.id, service: entry.config, parts: entry.parts, counters: entry.counters,
                                       states: entry.states, nowMs: loop.nowMs, limits: entry.limits,
                                       replacing: entry.table, changedAtNs: changedAtNs)
            tablesBuilt += 1
        } catch {
            tableRebuildFailures += 1
            log.error("table rebuild failed; workers keep the previous table", metadata: [
                "service": "\(entry.config.name)", "error": "\(error)",
            ])
            flushResets(entry)
            return
        }
        let previousTier = entry.table.activeTier
        entry.table = table
        workers.broadcast(.table(table))
        tablesPublished += 1
        onTablePublished?(table, entry.keepingFlows)
        flushResets(entry)
        // Failback: an earlier tier is back, so the clients held by later tiers are sent home.
        if entry.config.failback, let tier = table.activeTier, let previousTier, tier < previousTier {
            let later = entry.parts.targets.indices.filter { entry.parts.targets[$0].tier > tier }.map { entry.counters[$0] }
            workers.broadcast(.resetConnections(to: later, reason: .failback))
        }
        let costNs = cl_monotonic_ns() - startedNs
        entry.nextPublishAtNs = startedNs + costNs * 10
        scheduleRampIfNeeded()
    }

    private func flushResets(_ entry: ServiceEntry) {
        guard !entry.pendingResets.isEmpty else { return }
        workers.broadcast(.resetConnections(to: entry.pendingResets, reason: .backendDown))
        entry.pendingResets.removeAll()
    }

    /// Replaces every service at once (a reload that has already built and bound them all).
    /// Resets still waiting on a replaced service go out now: the reload's tables, built from
    /// the same states, are already on their way.
    func replaceServices(_ entries: [ServiceEntry]) {
        for old in services where !old.pendingResets.isEmpty { flushResets(old) }
        services = entries
        republishToKernel()
        scheduleRampIfNeeded()
    }

    // MARK: Slow start

    private func isRamping(_ entry: ServiceEntry, nowMs: UInt64, slackMs: UInt64 = 0) -> Bool {
        entry.config.slowStartMs > 0 && entry.states.contains {
            $0.isEligible && $0.eligibleSinceMs > 0 && nowMs < $0.eligibleSinceMs + UInt64(entry.config.slowStartMs) + slackMs
        }
    }

    private func scheduleRampIfNeeded() {
        if rampTimerAt == .max && services.contains(where: { isRamping($0, nowMs: loop.nowMs) }) {
            rampTimerAt = loop.nowMs + 100
            loop.schedule(id, atMs: rampTimerAt)
        }
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    /// Publishes what waited for its turn, and republishes the tables of services whose
    /// backends are still ramping up, so their effective weight grows in steps of 100 ms.
    public func handleTimer(nowMs: UInt64) {
        if publishTimerAt != .max && nowMs >= publishTimerAt {
            publishTimerAt = .max
            publishPending()
        }
        guard rampTimerAt != .max else { return }
        guard nowMs >= rampTimerAt else { return loop.schedule(id, atMs: rampTimerAt) }
        rampTimerAt = .max
        for entry in services where isRamping(entry, nowMs: nowMs, slackMs: 100) {
            publish(entry)
        }
        scheduleRampIfNeeded()
    }

    static func stateName(_ state: BackendState) -> String {
        switch state.admin {
        case .draining: return "draining"
        case .disabled: return "disabled"
        case .enabled:
            guard state.healthy else { return "down" }
            switch state.agent?.effect {
            case .down?: return "down"
            case .maint?: return "disabled"
            case .drain?: return "draining"
            case .ready?, nil: return state.agent?.weightPercent == 0 ? "draining" : "up"
            }
        }
    }
}
