import BasculeProxy

/// /metrics in the Prometheus text exposition format 0.0.4: each family's HELP and TYPE once,
/// then all of its samples together, as the format requires.
enum MetricsPage {
    struct Family {
        let name: String
        let help: String
        let type: String
        var samples: [(labels: [(String, String)], value: Double)] = []

        mutating func add(_ value: Double, _ labels: [(String, String)] = []) {
            samples.append((labels, value))
        }
        mutating func add(_ value: Int, _ labels: [(String, String)] = []) {
            add(Double(value), labels)
        }

        func write(into out: inout String) {
            out += "# HELP \(name) \(MetricsPage.escapeHelp(help))\n# TYPE \(name) \(type)\n"
            for sample in samples {
                out += name
                if !sample.labels.isEmpty {
                    out += "{"
                    out += sample.labels.map { "\($0.0)=\"\(MetricsPage.escapeLabel($0.1))\"" }.joined(separator: ",")
                    out += "}"
                }
                out += " \(MetricsPage.format(sample.value))\n"
            }
        }
    }

    static let states = ["up", "down", "draining", "disabled"]

    static func render(_ services: [ServiceStatus], admin requestCounts: [Int: Int] = [:]) -> String {
        var up = Family(name: "bascule_backend_up", help: "1 when the backend passes its health checks, else 0.", type: "gauge")
        var state = Family(name: "bascule_backend_state", help: "1 for the backend's current state (up, down, draining, disabled), 0 for the others.", type: "gauge")
        var active = Family(name: "bascule_backend_active_connections", help: "Connections open to the backend now.", type: "gauge")
        var total = Family(name: "bascule_backend_connections_total", help: "Connections relayed to the backend since start.", type: "counter")
        var failures = Family(name: "bascule_backend_connect_failures_total", help: "Failed connection attempts to the backend since start.", type: "counter")
        var bytesIn = Family(name: "bascule_backend_received_bytes_total", help: "Bytes relayed from clients to the backend.", type: "counter")
        var bytesOut = Family(name: "bascule_backend_sent_bytes_total", help: "Bytes relayed from the backend back to clients.", type: "counter")
        var weight = Family(name: "bascule_backend_weight", help: "Configured or operator-set weight.", type: "gauge")
        var effective = Family(name: "bascule_backend_effective_weight", help: "Weight in use now (lower while ramping up after slow start).", type: "gauge")
        var sinceChange = Family(name: "bascule_backend_seconds_since_state_change", help: "Seconds since the backend last changed state.", type: "gauge")
        var serviceActive = Family(name: "bascule_service_active_connections", help: "Connections open through the service now.", type: "gauge")
        var serviceTotal = Family(name: "bascule_service_connections_total", help: "Connections relayed by the service since start.", type: "counter")
        var serviceAccepted = Family(name: "bascule_service_connections_accepted_total", help: "Client connections accepted by the service.", type: "counter")
        var serviceFailed = Family(name: "bascule_service_connections_failed_total", help: "Client connections closed without reaching any backend.", type: "counter")
        var serviceEligible = Family(name: "bascule_service_eligible_backends", help: "Backends that would take a new connection now.", type: "gauge")
        var serviceReady = Family(name: "bascule_service_ready", help: "1 when at least one backend would take a new connection.", type: "gauge")

        for service in services {
            let s = [("service", service.name)]
            for backend in service.backends {
                let labels = s + [("backend", backend.name)]
                up.add(backend.healthy ? 1 : 0, labels)
                for name in states { state.add(backend.state == name ? 1 : 0, labels + [("state", name)]) }
                active.add(backend.activeConnections, labels)
                total.add(backend.totalConnections, labels)
                failures.add(backend.connectFailures, labels)
                bytesIn.add(Double(backend.bytesIn), labels)
                bytesOut.add(Double(backend.bytesOut), labels)
                weight.add(backend.weight, labels)
                effective.add(backend.effectiveWeight, labels)
                sinceChange.add(backend.secondsSinceLastChange, labels)
            }
            serviceActive.add(service.activeConnections, s)
            serviceTotal.add(service.backends.reduce(0) { $0 + $1.totalConnections }, s)
            serviceAccepted.add(service.connectionsAccepted, s)
            serviceFailed.add(service.connectionsFailed, s)
            serviceEligible.add(service.backends.filter { $0.state == "up" }.count, s)
            serviceReady.add(service.hasEligibleBackend ? 1 : 0, s)
        }

        var uptime = Family(name: "bascule_process_uptime_seconds", help: "Seconds since the process started.", type: "gauge")
        if let seconds = ProcessMetrics.uptimeSeconds() { uptime.add(seconds) }
        var fds = Family(name: "bascule_process_open_fds", help: "Open file descriptors.", type: "gauge")
        if let count = ProcessMetrics.openDescriptors() { fds.add(count) }
        var memory = Family(name: "bascule_process_resident_memory_bytes", help: "Resident memory size in bytes.", type: "gauge")
        if let bytes = ProcessMetrics.residentMemoryBytes() { memory.add(bytes) }
        var requests = Family(name: "bascule_admin_responses_total", help: "Admin endpoint responses sent, by status code.", type: "counter")
        for code in requestCounts.keys.sorted() { requests.add(requestCounts[code]!, [("code", String(code))]) }

        var out = ""
        for family in [up, state, active, total, failures, bytesIn, bytesOut, weight, effective, sinceChange,
                       serviceActive, serviceTotal, serviceAccepted, serviceFailed, serviceEligible, serviceReady,
                       uptime, fds, memory, requests] {
            family.write(into: &out)
        }
        return out
    }

    static func escapeLabel(_ value: String) -> String {
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
