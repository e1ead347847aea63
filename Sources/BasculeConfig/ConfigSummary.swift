extension BasculeConfiguration {
    /// What `bascule check` prints for a valid file: enough to confirm the file says what
    /// the operator meant (addresses, strategies, checks, weights), one line per fact.
    ///
    /// - Parameter resolvedWorkers: the worker count in effect (`workers: 0` resolved to the
    ///   number of cores by the caller, which knows the machine).
    public func summary(resolvedWorkers: Int) -> String {
        var lines: [String] = []
        let serviceCount = services.count == 1 ? "1 service" : "\(services.count) services"
        let workerNote = workers == 0 ? " (one per core)" : ""
        lines.append("\(serviceCount), \(resolvedWorkers) worker\(resolvedWorkers == 1 ? "" : "s")\(workerNote)")
        lines.append("admin: \(admin.listen)" + (admin.token.isEmpty ? " (no token: loopback callers only)" : " (token set)"))
        lines.append("defaults: connect \(defaults.connectTimeoutMs) ms, idle \(defaults.idleTimeoutMs) ms, "
                     + "retries \(defaults.retries), drain \(defaults.drainTimeoutMs) ms")
        if drainGraceMs > 0 {
            lines.append("on SIGTERM: not ready at once, still accepting for \(drainGraceMs) ms, then draining")
        }
        if services.contains(where: { !$0.namedBackends.isEmpty }) {
            lines.append("dns: names re-resolved on their TTL, within \(dns.minRefreshMs)...\(dns.maxRefreshMs) ms")
        }
        for service in services {
            lines.append("")
            lines.append(contentsOf: service.summaryLines(defaults: defaults))
        }
        return lines.joined(separator: "\n")
    }
}

extension ServiceConfig {
    func summaryLines(defaults: Defaults) -> [String] {
        var strategyText = strategy
        if affinity != .none { strategyText += " (affinity \(affinity.rawValue))" }
        var lines = ["service \(name) on \(listen): \(strategyText)"]
        if let xdp {
            lines.append("  kernel data plane: XDP on \(xdp.interface) (\(xdp.mode.rawValue)), \(xdp.protocols.joined(separator: " and ")), "
                         + "IP-in-IP from \(xdp.source.map { "\($0)" } ?? "the interface's address") to the backends, which reply directly")
        }
        lines.append("  health: " + healthCheck.summary)

        var settings: [String] = []
        if connectTimeoutMs != defaults.connectTimeoutMs { settings.append("connect \(connectTimeoutMs) ms") }
        if idleTimeoutMs != defaults.idleTimeoutMs { settings.append("idle \(idleTimeoutMs) ms") }
        if retries != defaults.retries { settings.append("retries \(retries)") }
        if drainTimeoutMs != defaults.drainTimeoutMs { settings.append("drain \(drainTimeoutMs) ms") }
        if let maxConnections { settings.append("max \(maxConnections) connections") }
        if let proxyProtocol { settings.append("sends PROXY \(proxyProtocol.rawValue)") }
        if acceptProxyProtocol { settings.append("accepts PROXY") }
        if !allow.isEmpty { settings.append("allow " + allow.map(\.description).joined(separator: " ")) }
        if !deny.isEmpty { settings.append("deny " + deny.map(\.description).joined(separator: " ")) }
        if slowStartMs > 0 { settings.append("slow start \(slowStartMs) ms") }
        if routesByServerName {
            settings.append("TLS server names " + serverNames.joined(separator: " ")
                                + (alpn.isEmpty ? "" : " (ALPN " + alpn.joined(separator: " ") + ")"))
        }
        if acceptNonTLS { settings.append("takes non-TLS connections") }
        if !settings.isEmpty { lines.append("  " + settings.joined(separator: ", ")) }

        let nameWidth = backends.map(\.name.count).max() ?? 0
        let addressWidth = backends.map(\.address.description.count).max() ?? 0
        for backend in backends {
            var line = "  - " + padded(backend.name, nameWidth) + "  " + padded(backend.address.description, addressWidth)
                + "  weight \(backend.weight)"
            if let limit = backend.maxConnections { line += ", max \(limit) connections" }
            if backend.tier == 1 { line += ", backup" } else if backend.tier > 1 { line += ", tier \(backend.tier)" }
            lines.append(line)
        }
        for entry in namedBackends {
            var line = "  - \(entry.name)  \(entry.target) (DNS name: a backend \(entry.name)@ADDRESS per address)"
            let settings = entry.backend(at: IPAddress(bytes: [0, 0, 0, 0]))
            line += "  weight \(settings.weight)"
            if let limit = settings.maxConnections { line += ", max \(limit) connections" }
            if settings.tier == 1 { line += ", backup" } else if settings.tier > 1 { line += ", tier \(settings.tier)" }
            lines.append(line)
        }
        return lines
    }

    private func padded(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}

extension HealthCheckConfig {
    var summary: String {
        let timing = "every \(intervalMs) ms, timeout \(timeoutMs) ms, rise \(rise), fall \(fall)"
        switch type {
        case .none:
            return "none (backends are always considered up)"
        case .tcp:
            return "tcp connect, \(timing)"
        case .http, .https:
            var text = "\(type.rawValue) GET \(path) expecting " + expectStatus.map(String.init).joined(separator: "/")
            if let expectBody { text += " and body containing \(quotedForMessage(expectBody))" }
            if type == .https {
                if !verify { text += ", certificate NOT verified" }
                if let caFile { text += ", CA \(caFile)" }
                if let serverName { text += ", SNI \(serverName)" }
            }
            return text + ", \(timing)"
        }
    }
}
