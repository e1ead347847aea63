import BasculeConfig
import BasculeHealth

/// Health-check results for /metrics and /status, rendered from the monitor's snapshot.
public enum HealthMetrics {
    public static func render(_ results: [[CheckResultSnapshot]]) -> String {
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
        for result in results.joined() {
            let labels = [("service", result.service), ("backend", result.backend)]
            if let agent = result.agent {
                agentWeight.add(agent.weightPercent, labels)
                let word = agent.operational == .down ? "down" : agent.administrative == .ready ? "up" : agent.administrative.rawValue
                for state in ["up", "down", "drain", "maint"] { agentState.add(word == state ? 1 : 0, labels + [("state", state)]) }
                agentReachable.add(agent.reachable ? 1 : 0, labels)
                agentPolls.add(Int(agent.pollsTotal - agent.failuresTotal), labels + [("result", "ok")])
                agentPolls.add(Int(agent.failuresTotal), labels + [("result", "failed")])
            }
            guard result.checkType != .none else { continue }
            if let target = result.target { targets.add(1, labels + [("target", target)]) }
            checks.add(Int(result.checksTotal - result.failuresTotal), labels + [("result", "ok")])
            checks.add(Int(result.failuresTotal), labels + [("result", "failed")])
            let cumulative = result.latency.cumulativeCounts
            let buckets = zip(result.latency.upperBoundsMs, cumulative).map { (le: $0 / 1000, count: Int($1)) }
            latency.addHistogram(labels, buckets: buckets, sum: result.latency.sumMs / 1000, count: Int(result.latency.count))
        }
        // Families of features nobody configured stay off the page rather than empty.
        let optional = [targets, agentWeight, agentState, agentReachable, agentPolls].filter(\.hasSamples)
        return checks.rendered + latency.rendered + optional.map(\.rendered).joined()
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
