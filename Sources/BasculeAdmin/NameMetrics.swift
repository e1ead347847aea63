import BasculeConfig
import BasculeProxy

/// The DNS names backends are given by, in /status (`dnsNames`) and /metrics.
enum NameMetrics {
    static func status(_ names: [NameStatus]) -> JSONValue {
        .array(names.map { name in
            .object([
                ("name", .string(name.name)),
                ("usedBy", .array(name.usedBy.map { .string($0) })),
                ("addresses", .array(name.addresses.map { .string($0) })),
                ("ttlSeconds", name.ttlSeconds.map { .int($0) } ?? .null),
                ("lastSuccessTimestamp", name.lastSuccessTimestamp.map { .double($0) } ?? .null),
                ("lastChangeTimestamp", name.lastChangeTimestamp.map { .double($0) } ?? .null),
                ("lastFailureTimestamp", name.lastFailureTimestamp.map { .double($0) } ?? .null),
                ("lastFailureReason", name.lastFailureReason.map { .string($0) } ?? .null),
                ("consecutiveFailures", .int(name.consecutiveFailures)),
                ("nextRefreshInSeconds", .double(name.nextRefreshInSeconds)),
                ("resolutions", .object(name.results.map { ($0.result, .int($0.count)) })),
            ])
        })
    }

    static func render(_ names: [NameStatus], applyFailures: Int) -> String {
        var resolutions = MetricFamily(name: "bascule_dns_resolutions_total",
                                       help: "Resolutions of backend host names, by name and result (success, nxdomain, nodata, servfail, timeout, refused, error).",
                                       type: .counter)
        var addresses = MetricFamily(name: "bascule_dns_addresses",
                                     help: "Addresses a backend host name resolves to now (the last good answer).", type: .gauge)
        var lastChange = MetricFamily(name: "bascule_dns_last_change_timestamp_seconds",
                                      help: "When a backend host name's addresses last changed (the first answer included).", type: .gauge)
        var lastSuccess = MetricFamily(name: "bascule_dns_last_success_timestamp_seconds",
                                       help: "When a backend host name last resolved.", type: .gauge)
        var failing = MetricFamily(name: "bascule_dns_consecutive_failures",
                                   help: "Failed resolutions of a backend host name since its last success.", type: .gauge)
        var applyFailed = MetricFamily(name: "bascule_dns_apply_failures_total",
                                       help: "DNS changes that could not be applied to the pools (the pool stayed as it was).",
                                       type: .counter)
        for name in names {
            let labels = [("name", name.name)]
            for (result, count) in name.results {
                resolutions.add(count, labels + [("result", result)])
            }
            addresses.add(name.addresses.count, labels)
            if let changed = name.lastChangeTimestamp { lastChange.add(changed, labels) }
            if let success = name.lastSuccessTimestamp { lastSuccess.add(success, labels) }
            failing.add(name.consecutiveFailures, labels)
        }
        guard !names.isEmpty else { return "" }
        applyFailed.add(applyFailures)
        return [resolutions, addresses, lastChange, lastSuccess, failing, applyFailed].map(\.rendered).joined()
    }
}
