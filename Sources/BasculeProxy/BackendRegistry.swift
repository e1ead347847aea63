import BasculeBalancing
import BasculeConfig
import BasculeEventLoop
import Glibc
import Logging

/// The control thread's record of every service and backend: health (checks, and passive
/// checks on client traffic), admin state and weight (runtime API), slow start. Every change
/// rebuilds the service's table and publishes it to the workers; they never see this state.
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
    /// Table rebuilds that failed after a state change; the workers keep the previous table.
    public private(set) var tableRebuildFailures = 0

    /// Told when client traffic (not an active check) took a backend down, so the active
    /// checker knows it must see `rise` good checks before the backend returns.
    public var onPassiveDown: ((_ service: Int, _ backend: Int) -> Void)?

    init(services: [ServiceConfig], workerCount: Int, workers: WorkerMailboxes, loop: EventLoop, log: Logger) throws {
        self.loop = loop
        self.workerCount = workerCount
        self.workers = workers
        self.log = log
        id = loop.register(self)
        self.services = try services.map { try makeEntry($0, carrying: nil) }
    }

    func makeEntry(_ service: ServiceConfig, carrying old: ServiceEntry?) throws -> ServiceEntry {
        var counters: [BackendCounters] = []
        var states: [BackendState] = []
        for backend in service.backends {
            // A backend that keeps its name and address keeps its counters and its health:
            // a reload must not reset what the checks have learnt.
            if let old, let previous = old.config.backends.firstIndex(where: { $0.name == backend.name && $0.address == backend.address }) {
                counters.append(old.counters[previous])
                var state = old.states[previous]
                state.weight = backend.weight
                if backend.agent == nil { state.agent = nil }
                states.append(state)
            } else {
                counters.append(BackendCounters(workers: workerCount))
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
        let table = try Self.makeTable(id: id, service: service, counters: counters, states: states,
                                       nowMs: loop.nowMs, limits: limits)
        let traffic = old?.traffic ?? (0..<workerCount).map { _ in TrafficStats() }
        let entry = ServiceEntry(id: id, config: service, counters: counters, states: states, table: table,
                                 traffic: traffic, limits: limits)
        entry.boundAddress = old?.boundAddress
        return entry
    }

    static func makeTable(id: Int, service: ServiceConfig, counters: [BackendCounters],
                          states: [BackendState], nowMs: UInt64,
                          limits: ServiceLimits = ServiceLimits(perClient: false)) throws -> ServiceTable {
        let targets = service.backends.map { backend in
            BackendTarget(name: backend.name, endpoint: backend.address,
                          address: SocketAddress(backend.address), tier: backend.tier)
        }
        let weights = tableWeights(states, slowStartMs: service.slowStartMs, nowMs: nowMs)
        let candidates = service.backends.enumerated().map { index, backend in
            (entry: BackendEntry(index: index, name: backend.name, address: backend.address.description,
                                 weight: weights[index]),
             tier: backend.tier, isAvailable: states[index].isEligible)
        }
        let eligible = BackendSelection.eligible(tiered: candidates)
        let activeTier = BackendSelection.activeTier(candidates.map { ($0.tier, $0.isAvailable) })
        guard let strategy = StrategyRegistry.make(named: service.strategy, backends: eligible, options: StrategyOptions()) else {
            throw StartupError(description: "service \(service.name): unknown strategy \"\(service.strategy)\"")
        }
        let eligibleIndices = eligible.map(\.index)
        let fallback = candidates.filter { $0.isAvailable && !eligibleIndices.contains($0.entry.index) }
            .sorted { $0.tier < $1.tier }.map(\.entry.index)
        let list = AccessList(allow: service.allow, deny: service.deny)
        let accessList = list.permitsEveryone ? nil : list
        return ServiceTable(id: id, config: service, backends: targets, counters: counters,
                            eligible: eligibleIndices, activeTier: activeTier, fallback: fallback, strategy: strategy,
                            accessList: accessList, limits: limits)
    }

    static func effectiveWeight(_ state: BackendState, slowStartMs: Int, nowMs: UInt64) -> Int {
        guard slowStartMs > 0, state.eligibleSinceMs > 0 else { return state.weight }
        let elapsed = nowMs >= state.eligibleSinceMs ? Int(nowMs - state.eligibleSinceMs) : 0
        return SlowStart.effectiveWeight(configured: state.weight, elapsedMs: elapsed, slowStartMs: slowStartMs)
    }

    // MARK: Changes from checks and the runtime API

    /// Health checks report here (service and backend are positions in the configuration).
    public func setHealth(service: Int, backend: Int, healthy: Bool, reason: String) {
        guard services.indices.contains(service), services[service].states.indices.contains(backend),
              services[service].states[backend].healthy != healthy else { return }
        services[service].states[backend].healthy = healthy
        let nowMs = loop.nowMs
        if healthy {
            services[service].states[backend].upTransitions += 1
            services[service].states[backend].downtimeMs += nowMs &- services[service].states[backend].downSinceMs
        } else {
            services[service].states[backend].downTransitions += 1
            services[service].states[backend].downSinceMs = nowMs
        }
        noteChange(service: service, backend: backend, reason: reason)
        // After the table without it is published (the mailbox keeps order), so the clients
        // that reconnect at once are not sent back to it.
        if !healthy && services[service].config.onBackendDown == .reset {
            workers.broadcast(.resetConnections(to: [services[service].counters[backend]], reason: .backendDown))
        }
    }

    /// The runtime API: drain, disable, enable.
    public func setAdminState(service: Int, backend: Int, _ admin: AdminState, reason: String) {
        guard services.indices.contains(service), services[service].states.indices.contains(backend),
              services[service].states[backend].admin != admin else { return }
        services[service].states[backend].admin = admin
        noteChange(service: service, backend: backend, reason: reason)
    }

    public func setWeight(service: Int, backend: Int, weight: Int, reason: String) {
        guard services.indices.contains(service), services[service].states.indices.contains(backend), weight >= 1 else { return }
        services[service].states[backend].weight = weight
        noteChange(service: service, backend: backend, reason: reason)
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
        return services[service].config.backends.firstIndex { $0.name == name }
    }

    func noteChange(service: Int, backend: Int, reason: String) {
        let entry = services[service]
        let wasEligible = entry.table.eligible.contains(backend)
        entry.states[backend].lastChangeReason = reason
        entry.states[backend].lastChangeAtMs = loop.nowMs
        if entry.states[backend].isEligible && !wasEligible {
            entry.states[backend].eligibleSinceMs = max(1, loop.nowMs)
        }
        log.notice("backend state changed", metadata: [
            "service": "\(entry.config.name)", "backend": "\(entry.config.backends[backend].name)",
            "state": "\(Self.stateName(entry.states[backend]))", "reason": "\(reason)",
        ])
        publish(entry)
    }

    /// A worker's connect failed; the counters identify the backend across table rebuilds
    /// and reloads.
    func connectFailed(counters: BackendCounters, errno code: Int32) {
        for (position, entry) in services.enumerated() {
            if let backend = entry.counters.firstIndex(where: { $0 === counters }) {
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

    /// Rebuilds the service's table from its states and hands it to every worker. A rebuild
    /// that fails leaves the workers on the previous table: logged and counted, never silent.
    func publish(_ entry: ServiceEntry) {
        let table: ServiceTable
        do {
            table = try Self.makeTable(id: entry.id, service: entry.config, counters: entry.counters,
                                       states: entry.states, nowMs: loop.nowMs, limits: entry.limits)
        } catch {
            tableRebuildFailures += 1
            log.error("table rebuild failed; workers keep the previous table", metadata: [
                "service": "\(entry.config.name)", "error": "\(error)",
            ])
            return
        }
        let previousTier = entry.table.activeTier
        entry.table = table
        workers.broadcast(.table(table))
        // Failback: an earlier tier is back, so the clients held by later tiers are sent home.
        if entry.config.failback, let tier = table.activeTier, let previousTier, tier < previousTier {
            let later = entry.config.backends.indices.filter { entry.config.backends[$0].tier > tier }.map { entry.counters[$0] }
            workers.broadcast(.resetConnections(to: later, reason: .failback))
        }
        scheduleRampIfNeeded()
    }

    /// Replaces every service at once (a reload that has already built and bound them all).
    func replaceServices(_ entries: [ServiceEntry]) {
        services = entries
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

    /// Republishes the tables of services whose backends are still ramping up, so their
    /// effective weight grows in steps of 100 ms.
    public func handleTimer(nowMs: UInt64) {
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
