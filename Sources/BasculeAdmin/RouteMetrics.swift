import BasculeConfig
import BasculeProxy

/// /metrics and /status for addresses shared by services that route by TLS server name:
/// connections per route (the matched name as configured, `default`, `refused`) and why
/// ClientHellos were refused.
public enum RouteMetrics {
    public static func render(_ addresses: [RouteCounters]) -> String {
        guard !addresses.isEmpty else { return "" }
        var routed = MetricFamily(name: "bascule_route_connections_total",
                                  help: "Connections on an address routed by TLS server name, by the route that took them (the matched name, default, or refused).",
                                  type: .counter)
        var rejected = MetricFamily(name: "bascule_route_client_hello_rejected_total",
                                    help: "Connections whose start was not a usable TLS ClientHello (timeout, not_tls, malformed, too_large, closed).",
                                    type: .counter)
        for address in addresses {
            for (position, label) in address.labels.enumerated() {
                routed.add(address.routed[position].value.load(ordering: .relaxed),
                           [("listen", address.listen), ("route", label), ("service", address.services[position])])
            }
            for reason in RouteCounters.Rejection.allCases {
                rejected.add(address.rejections[reason.rawValue].value.load(ordering: .relaxed),
                             [("listen", address.listen), ("reason", reason.label)])
            }
        }
        return routed.rendered + rejected.rendered
    }

    /// `routes` in /status: per address, each route with its service and count.
    public static func status(_ addresses: [RouteCounters]) -> JSONValue {
        .array(addresses.map { address in
            .object([
                ("listen", .string(address.listen)),
                ("routes", .array(address.labels.indices.map { position in
                    .object([("route", .string(address.labels[position])),
                             ("service", address.services[position].isEmpty ? .null : .string(address.services[position])),
                             ("connections", .int(address.routed[position].value.load(ordering: .relaxed)))])
                })),
                ("rejected", .object(RouteCounters.Rejection.allCases.map { reason in
                    (reason.label, .int(address.rejections[reason.rawValue].value.load(ordering: .relaxed)))
                })),
            ])
        })
    }
}
