import BasculeConfig
import BasculeHealth

/// Health-check results for /metrics and /status, rendered from the monitor's snapshot.
public enum HealthMetrics {
    /// `aggregated`: services whose `backendMetrics` is off; their checks are summed into one
    /// series per service (counts and latency), and agents and targets have no series.
    public static func render(_ results: [[CheckResultSnapshot]], aggregated: Set<String> = []) -> String {
        var checks = MetricFamily(name: "bascule_health_checks_total", help: "Active health checks run, by result.", type: .counter)
        var latency = MetricFamily(name: "bascule_health_check_latency_seconds", help: "Active health check latency.", type: .histogram)
        var targets = MetricFamily(name: "bascule_health_check_target_info",
                                   help: "Where a backend's checks connect, when not its traffic address.", type: .gauge)
        var agentWeight = MetricFamily(name: "bascule_backend_agent_weight_percent",
                                       help: "Share of the configured weight the backend's agent asks for.", type: .gauge)
        var agentState = MetricFamily(name: "bascule_backend_agent_state",
                                      help: "1 for what the backend's agent last said (up, down, drain, maint), 0 for the rest.", type: .gauge)
        var agentReachable = MetricFamily(name: "bascule_backend_agent_reachable",
                                          help: "1 when the backend's agent answered its last poll.", type: .gauge)
        var agentPolls = MetricFamily(name: "bascule_backend_agent_polls_total", help: "Agent polls, by result.", type: .counter)
        // Formatted once for every series: the bounds are the same for every backend.
        var formatted: (ms: [Double], texts: [String]) = ([], [])
        func bounds(_ histogram: LatencyHistogram) -> [String] {
            if histogram.upperBoundsMs != formatted.ms {
                formatted = (histogram.upperBoundsMs, histogram.upperBoundsMs.map { MetricsPage.format($0 / 1000) })
            }
            return formatted.texts
        }
        for row in results {
            guard let first = row.first else { continue }
            if aggregated.contains(first.service) {
                addServiceTotals(row, checks: &checks, latency: &latency, bounds: bounds(first.latency))
                continue
            }
            for result in row {
                let labels = MetricFamily.labelText([("service", result.service), ("backend", result.backend)])
                if let agent = result.agent {
                    agentWeight.add(agent.weightPercent, labelText: labels)
                    let word = agent.operational == .down ? "down" : agent.administrative == .ready ? "up" : agent.administrative.rawValue
                    for state in ["up", "down", "drain", "maint"] { agentState.add(word == state ? 1 : 0, labelText: labels, "state", state) }
                    agentReachable.add(agent.reachable ? 1 : 0, labelText: labels)
                    agentPolls.add(Int(agent.pollsTotal - agent.failuresTotal), labelText: labels, "result", "ok")
                    agentPolls.add(Int(agent.failuresTotal), labelText: labels, "result", "failed")
                }
                guard result.checkType != .none else { continue }
                if let target = result.target { targets.add(1, labelText: labels, "target", MetricsPage.escapeLabel(target)) }
                checks.add(Int(result.checksTotal - result.failuresTotal), labelText: labels, "result", "ok")
                checks.add(Int(result.failuresTotal), labelText: labels, "result", "failed")
                latency.addHistogram(labelText: labels, bounds: bounds(result.latency),
                                     cumulative: result.latency.cumulativeCounts.map { Int($0) },
                                     sum: result.latency.sumMs / 1000, count: Int(result.latency.count))
            }
        }
        // Families of features nobody configured stay off the page rather than empty.
        let optional = [targets, agentWeight, agentState, agentReachable, agentPolls].filter(\.hasSamples)
        return checks.rendered + latency.rendered + optional.map(\.rendered).joined()
    }

    /// One service's checks as one series: what a pool too large for per-backend series keeps.
    private static func addServiceTotals(_ row: [CheckResultSnapshot], checks: inout MetricFamily, latency: inout MetricFamily,
                                         bounds: [String]) {
        guard let first = row.first, first.checkType != .none else { return }
        var ok = 0, failed = 0, count = 0, sumMs = 0.0
        var cumulative = [Int](repeating: 0, count: bounds.count)
        for result in row {
            ok += Int(result.checksTotal - result.failuresTotal)
            failed += Int(result.failuresTotal)
            count += Int(result.latency.count)
            sumMs += result.latency.sumMs
            for (index, value) in result.latency.cumulativeCounts.prefix(bounds.count).enumerated() { cumulative[index] += Int(value) }
        }
        let labels = MetricFamily.labelText([("service", first.service)])
        checks.add(ok, labelText: labels, "result", "ok")
        checks.add(failed, labelText: labels, "result", "failed")
        latency.addHistogram(labelText: labels, bounds: bounds, cumulative: cumulative, sum: sumMs / 1000, count: count)
    }

    public static func status(_ results: [[CheckResultSnapshot]]) -> JSONValue {
        .array(results.joined().map { result in
            var members: [(String, JSONValue)] = [
                ("service", .string(result.service)), ("backend", .string(result.backend)),
                ("type", .string(result.checkType.rawValue)), ("healthy", .bool(result.healthy)),
                ("lastResult", .string(result.lastResult.rawValue)), ("reason", .string(result.reason)),
                ("latencyMs", .double(result.latencyMs)),
                ("consecutiveSuccesses", .int(result.consecutiveSuccesses)),
                ("consecutiveFailures", .int(result.consecutiveFailures)),
                ("checksTotal", .int(Int(result.checksTotal))), ("failuresTotal", .int(Int(result.failuresTotal))),
            ]
            if let target = result.target { members.append(("target", .string(target))) }
            if let agent = result.agent {
                members.append(("agent", .object([
                    ("target", .string(agent.target)), ("word", .string(agent.word)), ("said", .string(agent.said)),
                    ("reason", .string(agent.reason)), ("weightPercent", .int(agent.weightPercent)),
                    ("reachable", .bool(agent.reachable)), ("lastError", .string(agent.lastError)),
                    ("pollsTotal", .int(Int(agent.pollsTotal))), ("failuresTotal", .int(Int(agent.failuresTotal))),
                ])))
            }
            return .object(members)
        })
    }
}
