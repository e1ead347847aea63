import Glibc

/// Point-in-time views of the registry for /status, /metrics and the dashboard.
extension BackendRegistry {
    /// Connect-time and duration histograms per service, summed over workers.
    public func connectionHistograms() -> [ServiceHistograms] {
        services.map { entry in
            ServiceHistograms(service: entry.config.name,
                              connect: entry.traffic.map { $0.histograms.connect }.snapshot(),
                              duration: entry.traffic.map { $0.histograms.duration }.snapshot())
        }
    }

    /// Services with no backend in state "up" (`ServiceStatus.hasEligibleBackend`), read from
    /// the states without building a status: one pass, nothing allocated per backend.
    public func servicesWithoutEligibleBackend() -> [String] {
        services.filter { !$0.states.contains(where: \.isEligible) }.map(\.config.name)
    }

    public func status() -> [ServiceStatus] {
        var realtime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        let wallSeconds = Double(realtime.tv_sec) + Double(realtime.tv_nsec) / 1e9
        let nowMs = loop.nowMs
        return services.map { entry in
            let backends = entry.config.backends.enumerated().map { index, backend in
                let state = entry.states[index]
                let counters = entry.counters[index]
                var status = BackendStatus(
                    name: backend.name, address: backend.address.description, backup: backend.backup,
                    healthy: state.healthy, admin: state.admin, weight: state.weight,
                    effectiveWeight: Self.effectiveWeight(state, slowStartMs: entry.config.slowStartMs, nowMs: loop.nowMs),
                    state: Self.stateName(state),
                    activeConnections: counters.active.load(ordering: .relaxed),
                    totalConnections: counters.total.load(ordering: .relaxed),
                    connectFailures: counters.connectFailures.load(ordering: .relaxed),
                    bytesIn: counters.totalBytesIn, bytesOut: counters.totalBytesOut,
                    lastChangeReason: state.lastChangeReason,
                    secondsSinceLastChange: Double(loop.nowMs &- state.lastChangeAtMs) / 1000)
                status.connectFailuresByReason = ConnectErrorReason.allCases.map { ($0, counters.connectFailures($0)) }
                status.lastChangeTimestamp = ((wallSeconds - Double(nowMs &- state.lastChangeAtMs) / 1000) * 1000).rounded() / 1000
                status.downTransitions = state.downTransitions
                status.upTransitions = state.upTransitions
                let ongoingMs = state.healthy ? 0 : nowMs &- state.downSinceMs
                status.downtimeSeconds = Double(state.downtimeMs + ongoingMs) / 1000
                status.maxConnections = backend.maxConnections
                status.agent = state.agent
                status.tier = backend.tier
                status.resetOnDown = counters.resetOnDown.load(ordering: .relaxed)
                status.resetOnFailback = counters.resetOnFailback.load(ordering: .relaxed)
                status.timedOut = counters.timedOut.load(ordering: .relaxed)
                return status
            }
            var status = ServiceStatus(
                name: entry.config.name, listen: entry.boundAddress.map { "\($0)" } ?? entry.config.listen.description,
                strategy: entry.config.strategy,
                connectionsAccepted: entry.traffic.reduce(0) { $0 + $1.accepted.load(ordering: .relaxed) },
                connectionsFailed: entry.traffic.reduce(0) { $0 + $1.failed.load(ordering: .relaxed) },
                backends: backends)
            status.connectionsDenied = entry.traffic.reduce(0) { $0 + $1.denied.load(ordering: .relaxed) }
            status.connectionsRefused = entry.traffic.reduce(0) { $0 + $1.refused.load(ordering: .relaxed) }
            status.untrustedProxies = entry.traffic.reduce(0) { $0 + $1.untrustedProxies.load(ordering: .relaxed) }
            status.proxyHeadersRejected = entry.traffic.reduce(0) { $0 + $1.rejectedProxyHeaders.load(ordering: .relaxed) }
            status.retries = entry.traffic.reduce(0) { $0 + $1.retries.load(ordering: .relaxed) }
            status.maxConnections = entry.config.maxConnections
            status.clientTimedOut = entry.traffic.reduce(0) { $0 + $1.clientTimedOut.load(ordering: .relaxed) }
            status.activeTier = entry.table.activeTier
            status.maxConnectionsPerClient = entry.config.maxConnectionsPerClient
            status.backendMetrics = entry.config.backendMetrics
            return status
        }
    }
}
