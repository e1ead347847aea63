import BasculeHealth

/// Health-check results for /metrics and /status, rendered from the monitor's snapshot.
public enum HealthMetrics {
    public static func render(_ results: [[CheckResultSnapshot]]) -> String {
        var checks = MetricFamily(name: "bascule_health_checks_total", help: "Active health checks run, by result.", type: .counter)
        var latency = MetricFamily(name: "bascule_health_check_latency_seconds", help: "Active health check latency.", type: .histogram)
        for result in results.joined() where result.checkType != .none {
            let labels = [("service", result.service), ("backend", result.backend)]
            checks.add(Int(result.checksTotal - result.failuresTotal), labels + [("result", "ok")])
            checks.add(Int(result.failuresTotal), labels + [("result", "failed")])
            let cumulative = result.latency.cumulativeCounts
            let buckets = zip(result.latency.upperBoundsMs, cumulative).map { (le: $0 / 1000, count: Int($1)) }
            latency.addHistogram(labels, buckets: buckets, sum: result.latency.sumMs / 1000, count: Int(result.latency.count))
        }
        return checks.rendered + latency.rendered
    }

    public static func status(_ results: [[CheckResultSnapshot]]) -> JSONValue {
        .array(results.joined().map { result in
            .object([
                ("service", .string(result.service)), ("backend", .string(result.backend)),
                ("type", .string(result.checkType.rawValue)), ("healthy", .bool(result.healthy)),
                ("lastResult", .string(result.lastResult.rawValue)), ("reason", .string(result.reason)),
                ("latencyMs", .double(result.latencyMs)),
                ("consecutiveSuccesses", .int(result.consecutiveSuccesses)),
                ("consecutiveFailures", .int(result.consecutiveFailures)),
                ("checksTotal", .int(Int(result.checksTotal))), ("failuresTotal", .int(Int(result.failuresTotal))),
            ])
        })
    }
}
