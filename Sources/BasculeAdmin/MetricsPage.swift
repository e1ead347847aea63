import BasculeConfig
import BasculeProxy

/// /metrics in the Prometheus text exposition format 0.0.4, built from the status snapshot.
enum MetricsPage {
    static let states = ["up", "down", "draining", "disabled"]

    static func render(_ services: [ServiceStatus], admin requestCounts: [Int: Int] = [:]) -> String {
        var up = MetricFamily(name: "bascule_backend_up", help: "1 when the backend passes its health checks, else 0.", type: "gauge")
        var state = MetricFamily(name: "bascule_backend_state", help: "1 for the backend's current state (up, down, draining, disabled), 0 for the others.", type: "gauge")
        var active = MetricFamily(name: "bascule_backend_active_connections", help: "Connections open to the backend now.", type: "gauge")
        var total = MetricFamily(name: "bascule_backend_connections_total", help: "Connections to the backend attempted since start, failed connects included.", type: "counter")
        var failuresByReason = MetricFamily(name: "bascule_backend_connect_errors_total",
                                            help: "Failed connection attempts to the backend by reason: refused, timeout, unreachable, reset, local (no port or memory here), other.",
                                            type: "counter")
        var bytesIn = MetricFamily(name: "bascule_backend_received_bytes_total", help: "Bytes relayed from clients to the backend.", type: "counter")
        var bytesOut = MetricFamily(name: "bascule_backend_sent_bytes_total", help: "Bytes relayed from the backend back to clients.", type: "counter")
        var weight = MetricFamily(name: "bascule_backend_weight", help: "Configured or operator-set weight.", type: "gauge")
        var effective = MetricFamily(name: "bascule_backend_effective_weight", help: "Weight in use now (lower while ramping up after slow start).", type: "gauge")
        var lastChange = MetricFamily(name: "bascule_backend_last_state_change_timestamp_seconds", help: "When the backend last changed state (health or admin), Unix time.", type: "gauge")
        var transitions = MetricFamily(name: "bascule_backend_transitions_total", help: "Health transitions: to=\"down\" each time the backend was marked down, to=\"up\" each time it came back.", type: "counter")
        var downtime = MetricFamily(name: "bascule_backend_downtime_seconds_total", help: "Seconds the backend has spent down (failing checks) since start, the current outage included.", type: "counter")
        var resets = MetricFamily(name: "bascule_backend_connections_reset_total", help: "Open connections reset by the balancer: reason=\"down\" when the backend was marked down (onBackendDown reset), reason=\"failback\" when a lower tier came back.", type: "counter")
        var backendTimedOut = MetricFamily(name: "bascule_backend_connections_timed_out_total", help: "Connections ended because the backend's host stopped answering (keepalive probes or TCP_USER_TIMEOUT: ETIMEDOUT).", type: "counter")
        var tier = MetricFamily(name: "bascule_backend_tier", help: "The backend's tier: 0 primary, 1 backup, higher for later tiers.", type: "gauge")
        var backendLimit = MetricFamily(name: "bascule_backend_max_connections", help: "The backend's configured maxConnections (only backends that set one).", type: "gauge")
        var serviceActive = MetricFamily(name: "bascule_service_active_connections", help: "Connections open through the service now.", type: "gauge")
        var serviceTotal = MetricFamily(name: "bascule_service_connections_total", help: "Connections relayed by the service since start.", type: "counter")
        var serviceAccepted = MetricFamily(name: "bascule_service_connections_accepted_total", help: "Client connections accepted by the service.", type: "counter")
        var serviceFailed = MetricFamily(name: "bascule_service_connections_failed_total", help: "Client connections closed without reaching any backend.", type: "counter")
        var serviceDenied = MetricFamily(name: "bascule_service_connections_denied_total", help: "Client connections closed at accept by allow/deny.", type: "counter")
        var serviceRefused = MetricFamily(name: "bascule_service_connections_refused_total", help: "Client connections refused by a connection limit (process, service, client, or every backend full).", type: "counter")
        var serviceBadProxy = MetricFamily(name: "bascule_service_proxy_headers_rejected_total", help: "Client connections closed for a malformed, truncated or late PROXY protocol header.", type: "counter")
        var serviceUntrusted = MetricFamily(name: "bascule_service_untrusted_proxy_connections_total", help: "Connections closed at accept because the peer is not one of trustedProxies (it may not send PROXY headers).", type: "counter")
        var serviceRetries = MetricFamily(name: "bascule_service_retries_total", help: "Connects tried again after a failed one.", type: "counter")
        var clientTimedOut = MetricFamily(name: "bascule_service_client_connections_timed_out_total", help: "Connections ended because the client's host stopped answering keepalive probes (ETIMEDOUT).", type: "counter")
        var activeTier = MetricFamily(name: "bascule_service_active_tier", help: "The tier new connections go to now (only services with a backend available).", type: "gauge")
        var serviceLimit = MetricFamily(name: "bascule_service_max_connections", help: "The service's configured maxConnections (only services that set one).", type: "gauge")
        var clientLimit = MetricFamily(name: "bascule_service_max_connections_per_client", help: "The service's configured maxConnectionsPerClient (only services that set one).", type: "gauge")
        var serviceEligible = MetricFamily(name: "bascule_service_eligible_backends", help: "Backends that would take a new connection now.", type: "gauge")
        var serviceReady = MetricFamily(name: "bascule_service_ready", help: "1 when at least one backend would take a new connection.", type: "gauge")

        var serviceBackends = MetricFamily(name: "bascule_service_backends", help: "Backends of the service by state (up, down, draining, disabled); present whether or not per-backend series are.", type: "gauge")

        for service in services {
            let s = [("service", service.name)]
            var byState = [0, 0, 0, 0]
            for backend in service.backends {
                if let position = states.firstIndex(of: backend.state) { byState[position] += 1 }
            }
            for (position, name) in states.enumerated() { serviceBackends.add(byState[position], s + [("state", name)]) }
            // `backendMetrics: false`: the pool is too large for a series per backend; the
            // service's own families below stay.
            for backend in service.backends where service.backendMetrics {
                let labels = MetricFamily.labelText(s + [("backend", backend.name)])
                up.add(backend.healthy ? 1 : 0, labelText: labels)
                for name in states { state.add(backend.state == name ? 1 : 0, labelText: labels, "state", name) }
                active.add(backend.activeConnections, labelText: labels)
                total.add(backend.totalConnections, labelText: labels)
                for (reason, count) in backend.connectFailuresByReason {
                    failuresByReason.add(count, labelText: labels, "reason", reason.rawValue)
                }
                bytesIn.add(Double(backend.bytesIn), labelText: labels)
                bytesOut.add(Double(backend.bytesOut), labelText: labels)
                weight.add(backend.weight, labelText: labels)
                effective.add(backend.effectiveWeight, labelText: labels)
                lastChange.add(backend.lastChangeTimestamp, labelText: labels)
                transitions.add(backend.downTransitions, labelText: labels, "to", "down")
                transitions.add(backend.upTransitions, labelText: labels, "to", "up")
                downtime.add(backend.downtimeSeconds, labelText: labels)
                resets.add(backend.resetOnDown, labelText: labels, "reason", "down")
                resets.add(backend.resetOnFailback, labelText: labels, "reason", "failback")
                backendTimedOut.add(backend.timedOut, labelText: labels)
                tier.add(backend.tier, labelText: labels)
                if let limit = backend.maxConnections { backendLimit.add(limit, labelText: labels) }
            }
            serviceActive.add(service.activeConnections, s)
            serviceTotal.add(service.backends.reduce(0) { $0 + $1.totalConnections }, s)
            serviceAccepted.add(service.connectionsAccepted, s)
            serviceFailed.add(service.connectionsFailed, s)
            serviceDenied.add(service.connectionsDenied, s)
            serviceRefused.add(service.connectionsRefused, s)
            serviceBadProxy.add(service.proxyHeadersRejected, s)
            serviceUntrusted.add(service.untrustedProxies, s)
            serviceRetries.add(service.retries, s)
            clientTimedOut.add(service.clientTimedOut, s)
            if let active = service.activeTier { activeTier.add(active, s) }
            if let limit = service.maxConnections { serviceLimit.add(limit, s) }
            if let limit = service.maxConnectionsPerClient { clientLimit.add(limit, s) }
            serviceEligible.add(service.backends.filter { $0.state == "up" }.count, s)
            serviceReady.add(service.hasEligibleBackend ? 1 : 0, s)
        }

        var buildInfo = MetricFamily(name: "bascule_build_info", help: "Always 1; the version label is what bascule --version prints.", type: "gauge")
        buildInfo.add(1, [("version", BasculeVersion.string)])
        var requests = MetricFamily(name: "bascule_admin_responses_total", help: "Admin endpoint responses sent, by status code.", type: "counter")
        for code in requestCounts.keys.sorted() { requests.add(requestCounts[code]!, [("code", String(code))]) }

        var out = ""
        for family in [up, state, active, total, failuresByReason, bytesIn, bytesOut, weight, effective, lastChange,
                       transitions, downtime, resets, backendTimedOut, tier, backendLimit,
                       serviceActive, serviceTotal, serviceAccepted, serviceFailed, serviceDenied, serviceRefused, serviceBadProxy, serviceUntrusted,
                       serviceRetries, clientTimedOut, activeTier, serviceEligible, serviceReady, serviceBackends, serviceLimit, clientLimit,
                       buildInfo, requests] {
            // A limit nobody set is no series at all, not a family without samples.
            let optional = [backendLimit.name, serviceLimit.name, clientLimit.name, activeTier.name].contains(family.name)
            if !optional || family.hasSamples { out += family.rendered }
        }
        return out + ProcessMetrics.rendered()
    }

    static func escapeLabel(_ value: String) -> String {
        // Names and addresses almost never need it: no copy, character by character, then.
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else {
            return value
        }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
