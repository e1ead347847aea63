/// The rules for one entry of `services` and its backends.
enum ServiceValidation {
    static let keys = ["name", "listen", "strategy", "affinity", "healthCheck", "backends",
                       "connectTimeoutMs", "idleTimeoutMs", "retries", "drainTimeoutMs",
                       "maxConnections", "proxyProtocol", "acceptProxyProtocol", "trustedProxies", "allow", "deny",
                       "slowStartMs", "maxConnectionsPerClient", "keepAliveIdleSeconds",
                       "keepAliveIntervalSeconds", "keepAliveCount", "backendUserTimeoutMs",
                       "onBackendDown", "failback", "backendMetrics", "serverNames", "alpn", "acceptNonTLS"] + XDPServiceValidation.keys
    static let backendKeys = ["name", "address", "weight", "backup", "tier", "maxConnections", "agent", "healthCheck"]
    static let defaultStrategy = "round-robin"
    /// Strategies whose only input is the client's hash: without one every client would land
    /// on the same backend, so their affinity defaults to the client's address.
    static let clientHashingStrategies: Set<String> = ["source-hash", "maglev"]

    /// The service, or nil when a required part (name, listen, backends) is unusable. `name`
    /// and `listen` were already checked by the caller, which needs them for uniqueness.
    static func service(_ object: ObjectAtPath, name: String?, listen: ParsedEndpoint?, defaults: Defaults,
                        knownStrategies: [String], collector: inout ErrorCollector) -> ServiceConfig? {
        let strategy = strategyName(object, knownStrategies: knownStrategies, collector: &collector,
                                    defaultName: XDPServiceValidation.isXDP(object) ? "maglev" : defaultStrategy)
        var affinity = collector.choice(object, "affinity", what: "affinity", choices: [Affinity.none, .single, .network])
            ?? (Self.clientHashingStrategies.contains(strategy) && !object.has("affinity") ? .single : .none)
        if affinity == .none && Self.clientHashingStrategies.contains(strategy) && object.has("affinity") {
            collector.report(object.path.key("affinity"),
                             "\(strategy) places clients by their address: use \"single\" or \"network\", not \"none\"")
            affinity = .single
        }
        var healthCheck = HealthCheckConfig()
        if let value = object["healthCheck"] {
            healthCheck = HealthCheckValidation.healthCheck(value, at: object.path.key("healthCheck"),
                                                            collector: &collector) ?? healthCheck
        }
        let resolved = TimeoutSettings.resolve(object, fallback: defaults, collector: &collector)
        let maxConnections = collector.int(object, "maxConnections", .positive)
        let maxConnectionsPerClient = collector.int(object, "maxConnectionsPerClient", .positive)
        let proxyProtocol = collector.choice(object, "proxyProtocol", what: "PROXY protocol version",
                                             choices: [ProxyProtocolVersion.v1, .v2])
        let acceptProxyProtocol = collector.bool(object, "acceptProxyProtocol") ?? false
        let allow = cidrList(object, "allow", collector: &collector)
        let deny = cidrList(object, "deny", collector: &collector)
        let trustedProxies = cidrList(object, "trustedProxies", collector: &collector)
        let slowStartMs = collector.int(object, "slowStartMs", .nonNegative) ?? 0
        let onBackendDown = collector.choice(object, "onBackendDown", what: "onBackendDown",
                                             choices: [OnBackendDown.reset, .keep]) ?? .reset
        let failback = collector.bool(object, "failback") ?? false
        let backendMetrics = collector.bool(object, "backendMetrics") ?? true
        let backends = backendList(object, listen: listen, collector: &collector)
        let routing = ServerNameValidation.routing(object, collector: &collector)
        let xdp = XDPServiceValidation.settings(object, strategy: strategy, listen: listen, collector: &collector)

        guard let name, let listen, let backends else { return nil }
        var service = ServiceConfig(name: name, listen: listen.endpoint, strategy: strategy, affinity: affinity,
                             healthCheck: healthCheck, backends: backends.literal, defaults: resolved,
                             maxConnections: maxConnections, proxyProtocol: proxyProtocol,
                             acceptProxyProtocol: acceptProxyProtocol, allow: allow, deny: deny,
                             slowStartMs: slowStartMs)
        service.namedBackends = backends.named
        service.maxConnectionsPerClient = maxConnectionsPerClient
        service.trustedProxies = trustedProxies
        service.onBackendDown = onBackendDown
        service.failback = failback
        service.backendMetrics = backendMetrics
        service.serverNames = routing.serverNames
        service.alpn = routing.alpn
        service.acceptNonTLS = routing.acceptNonTLS
        service.xdp = xdp
        return service
    }

    private static func strategyName(_ object: ObjectAtPath, knownStrategies: [String],
                                     collector: inout ErrorCollector, defaultName: String) -> String {
        let explicit = collector.string(object, "strategy")
        let name = explicit ?? defaultName
        if object.has("strategy"), explicit == nil { return name }
        guard !knownStrategies.contains(name) else { return name }
        let known = knownStrategies.isEmpty ? "none are registered" : "known: " + knownStrategies.joined(separator: ", ")
        let prefix = explicit == nil ? "missing, and the default strategy" : "unknown strategy"
        collector.report(object.path.key("strategy"), "\(prefix) \(quotedForMessage(name)) (\(known))")
        return name
    }

    private static func cidrList(_ object: ObjectAtPath, _ key: String, collector: inout ErrorCollector) -> [CIDRBlock] {
        guard let elements = collector.array(object, key) else { return [] }
        var blocks: [CIDRBlock] = []
        for (index, element) in elements.enumerated() {
            let path = object.path.key(key).index(index)
            guard case .string(let text) = element else {
                collector.report(path, "expected a CIDR string, got \(element.summaryForMessages)")
                continue
            }
            switch CIDRBlock.parse(text) {
            case .success(let block): blocks.append(block)
            case .failure(let error): collector.report(path, error.message)
            }
        }
        return blocks
    }

    private static func backendList(_ service: ObjectAtPath, listen: ParsedEndpoint?,
                                    collector: inout ErrorCollector) -> (literal: [BackendConfig], named: [NamedBackendConfig])? {
        let path = service.path.key("backends")
        guard service.has("backends") else {
            collector.report(path, "missing (a service needs at least one backend)")
            return nil
        }
        guard let elements = collector.array(service, "backends") else { return nil }
        if elements.isEmpty {
            collector.report(path, "empty backend list (a service needs at least one backend)")
            return nil
        }
        var backends: [BackendConfig] = []
        var named: [NamedBackendConfig] = []
        var names: [String: Int] = [:]
        var complete = true
        for (index, element) in elements.enumerated() {
            switch backend(element, at: path.index(index), serviceListen: listen, names: &names, collector: &collector) {
            case .literal(let backend)?: backends.append(backend)
            case .named(let entry)?: named.append(entry)
            case nil: complete = false
            }
        }
        guard complete else { return nil }
        if backends.allSatisfy(\.backup) && named.allSatisfy({ $0.tier > 0 }) {
            collector.report(path, "every backend is a backup (a service needs at least one primary: no \"backup\": true, tier 0)")
            return nil
        }
        return (backends, named)
    }

    /// One entry of `backends`: an IP-literal backend, or a DNS name whose addresses become
    /// backends at run time.
    enum Entry {
        case literal(BackendConfig)
        case named(NamedBackendConfig)
    }

    static func backend(_ value: JSONValue, at path: JSONPath, serviceListen: ParsedEndpoint?,
                        names: inout [String: Int], collector: inout ErrorCollector) -> Entry? {
        guard let object = collector.object(value, at: path, allowedKeys: backendKeys) else { return nil }
        var name: String?
        if !object.has("name") {
            collector.report(path.key("name"), "missing (every backend needs a name)")
        } else if let text = collector.string(object, "name") {
            if !ConfigValidator.isValidName(text) {
                collector.report(path.key("name"), "\(quotedForMessage(text)) is not a valid name (use letters, digits, '_', '.' and '-')")
            } else if let first = names[text] {
                collector.report(path.key("name"), "\(quotedForMessage(text)) is already used by backends[\(first)] of this service")
            } else {
                if case .index(let index)? = path.components.last { names[text] = index }
                name = text
            }
        }
        var address: ParsedEndpoint?
        var hostName: (host: HostName, port: UInt16)?
        if let text = collector.string(object, "address") {
            switch EndpointParsing.parseBackend(text) {
            case .success(.literal(let parsed)): address = parsed
            case .success(.name(let host, let port)): hostName = (host, port)
            case .failure(let error): collector.report(path.key("address"), error.message)
            }
        }
        if !object.has("address") {
            collector.report(path.key("address"), "missing (every backend needs an address)")
        }
        if let target = address, let serviceListen, loopsBack(to: target, from: serviceListen) {
            collector.report(path.key("address"),
                             "\(target.endpoint) is this service's own listen address (connections would loop back into the balancer)")
            address = nil
        }
        let weight = collector.int(object, "weight", .range(1...1000))
        let backup = collector.bool(object, "backup")
        var tier = collector.int(object, "tier", .range(0...9))
        if let backup, let given = tier, backup != (given > 0) {
            collector.report(path.key("tier"), "tier \(given) contradicts \"backup\": \(backup) (a backup is tier 1 or more; drop \"backup\" when giving a tier)")
            tier = nil
        }
        let maxConnections = collector.int(object, "maxConnections", .positive)
        let agent = object["agent"].flatMap { CheckTargetValidation.agent($0, at: path.key("agent"), collector: &collector) }
        let checkTarget = object["healthCheck"].flatMap {
            CheckTargetValidation.backendTarget($0, at: path.key("healthCheck"), collector: &collector)
        }
        guard let name, address != nil || hostName != nil,
              agent != nil || !object.has("agent"),
              weight != nil || !object.has("weight"),
              backup != nil || !object.has("backup"),
              tier != nil || !object.has("tier"),
              maxConnections != nil || !object.has("maxConnections") else { return nil }
        // A named entry's settings are a backend whose address each resolved one replaces.
        let placeholder = Endpoint(address: IPAddress(bytes: [0, 0, 0, 0]), port: hostName?.port ?? 0)
        var config = BackendConfig(name: name, address: address?.endpoint ?? placeholder, weight: weight ?? 1,
                                   backup: backup ?? false, maxConnections: maxConnections, agent: agent, tier: tier)
        config.checkPort = checkTarget?.port
        config.checkAddress = checkTarget?.address
        if let hostName { return .named(NamedBackendConfig(host: hostName.host, port: hostName.port, settings: config)) }
        return .literal(config)
    }

    /// A backend that is the service itself would make every connection recurse until file
    /// descriptors run out. Only the certain cases are refused: the same address, or a
    /// wildcard listen and a loopback backend on its port. A remote host on the same port as
    /// a wildcard listen is the ordinary case and is fine.
    private static func loopsBack(to backend: ParsedEndpoint, from listen: ParsedEndpoint) -> Bool {
        guard backend.endpoint.port == listen.endpoint.port else { return false }
        if backend.address == listen.address { return true }
        return listen.address.isUnspecified && (backend.address.isLoopback || backend.address.isUnspecified)
    }
}
