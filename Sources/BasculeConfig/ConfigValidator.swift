import Glibc

/// Turns a parsed document into a `BasculeConfiguration`, checking every rule of
/// DESIGN.md's config.json section. It reads on past each problem (using defaults in place
/// of bad values) so that one run reports everything; the configuration it returns is only
/// meaningful when `errors` is empty.
struct ConfigValidator {
    static let rootKeys = ["workers", "admin", "defaults", "services", "maxConnections", "accessLog", "drainGraceMs", "clientHello", "dns"]
    static let dnsKeys = ["minRefreshMs", "maxRefreshMs"]
    static let clientHelloKeys = ["timeoutMs", "maxBytes"]
    static let adminKeys = ["listen", "token"]
    static let defaultsKeys = ["connectTimeoutMs", "idleTimeoutMs", "retries", "drainTimeoutMs",
                               "keepAliveIdleSeconds", "keepAliveIntervalSeconds", "keepAliveCount",
                               "backendUserTimeoutMs"]

    let knownStrategies: [String]
    var collector = ErrorCollector()
    /// Listen addresses taken so far, with who took them, for collision messages, and whether
    /// the taker routes by `serverNames` (then the address may be shared).
    private var listeners: [(address: IPAddress, port: UInt16, owner: String, routesByName: Bool)] = []

    init(knownStrategies: [String]) {
        self.knownStrategies = knownStrategies
    }

    var errors: [ConfigError] { collector.errors }

    mutating func configuration(from document: JSONValue) -> BasculeConfiguration {
        var configuration = BasculeConfiguration()
        guard let root = collector.object(document, at: .root, allowedKeys: Self.rootKeys) else {
            return configuration
        }
        configuration.workers = collector.int(root, "workers", .range(0...1024)) ?? 0
        configuration.maxConnections = collector.int(root, "maxConnections", .positive)
        configuration.drainGraceMs = collector.int(root, "drainGraceMs", .range(0...600_000)) ?? 0
        if let accessLog = collector.string(root, "accessLog"), !accessLog.isEmpty {
            // The file itself may not exist yet; its directory must, or no line could be written.
            let directory = accessLog.contains("/") ? String(accessLog[..<accessLog.lastIndex(of: "/")!]) : "."
            if accessLog != "-" && access(directory.isEmpty ? "/" : directory, W_OK) != 0 {
                collector.report(root.path.key("accessLog"), "directory \"\(directory)\" does not exist or is not writable")
            } else {
                configuration.accessLog = accessLog
            }
        }
        var adminListen = EndpointParsing.parse(configuration.admin.listen.description).success
        var adminListenIsDefault = true
        if let value = root["admin"],
           let admin = collector.object(value, at: root.path.key("admin"), allowedKeys: Self.adminKeys) {
            if admin.has("listen") {
                adminListenIsDefault = false
                adminListen = collector.endpoint(admin, "listen")
                configuration.admin.listen = adminListen?.endpoint ?? configuration.admin.listen
            }
            configuration.admin.token = collector.string(admin, "token") ?? ""
        }
        if let value = root["defaults"],
           let defaults = collector.object(value, at: root.path.key("defaults"), allowedKeys: Self.defaultsKeys) {
            configuration.defaults = TimeoutSettings.resolve(defaults, fallback: Defaults(), collector: &collector)
        }
        if let value = root["clientHello"],
           let settings = collector.object(value, at: root.path.key("clientHello"), allowedKeys: Self.clientHelloKeys) {
            configuration.clientHello.timeoutMs = collector.int(settings, "timeoutMs", .range(1...60_000))
                ?? configuration.clientHello.timeoutMs
            configuration.clientHello.maxBytes = collector.int(settings, "maxBytes", .range(ClientHelloSettings.maxBytesRange))
                ?? configuration.clientHello.maxBytes
        }
        if let value = root["dns"],
           let settings = collector.object(value, at: root.path.key("dns"), allowedKeys: Self.dnsKeys) {
            let minimum = collector.int(settings, "minRefreshMs", .range(DNSSettings.minRefreshRange))
            let maximum = collector.int(settings, "maxRefreshMs", .range(DNSSettings.maxRefreshRange))
            configuration.dns.minRefreshMs = minimum ?? configuration.dns.minRefreshMs
            configuration.dns.maxRefreshMs = maximum ?? max(configuration.dns.maxRefreshMs, configuration.dns.minRefreshMs)
            if let minimum, configuration.dns.maxRefreshMs < minimum {
                collector.report(settings.path.key(maximum == nil ? "minRefreshMs" : "maxRefreshMs"),
                                 "maxRefreshMs \(configuration.dns.maxRefreshMs) is below minRefreshMs \(minimum)")
            }
        }
        configuration.services = services(root, defaults: configuration.defaults)
        ServerNameValidation.checkSharedAddresses(configuration.services, at: root.path.key("services"),
                                                  collector: &collector)
        XDPServiceValidation.checkAcrossServices(configuration.services, at: root.path.key("services"), collector: &collector)

        // The admin address is checked last so the message can name the service it meets;
        // the default address is checked too, since an operator may not know it.
        if let adminListen, let owner = listenOwner(adminListen) {
            collector.report(root.path.key("admin").key("listen"),
                             "\(adminListen.endpoint) is already used by \(owner)"
                                + (adminListenIsDefault ? " (the default admin address; set admin.listen)" : ""))
        }
        return configuration
    }

    private mutating func services(_ root: ObjectAtPath, defaults: Defaults) -> [ServiceConfig] {
        let path = root.path.key("services")
        guard root.has("services") else {
            collector.report(path, "missing (a config needs at least one service)")
            return []
        }
        guard let elements = collector.array(root, "services") else { return [] }
        if elements.isEmpty {
            collector.report(path, "empty service list (a config needs at least one service)")
        }
        var services: [ServiceConfig] = []
        var names: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            let servicePath = path.index(index)
            guard let object = collector.object(element, at: servicePath, allowedKeys: ServiceValidation.keys) else {
                continue
            }
            let name = serviceName(object, index: index, names: &names)
            let listen = collector.endpoint(object, "listen")
            if let listen {
                claimListen(listen, path: servicePath.key("listen"),
                            owner: "\(servicePath)" + (name.map { " (\($0))" } ?? ""),
                            routesByName: object.has("serverNames"))
            } else if !object.has("listen") {
                collector.report(servicePath.key("listen"), "missing (every service needs a listen address)")
            }
            if let service = ServiceValidation.service(object, name: name, listen: listen, defaults: defaults,
                                                       knownStrategies: knownStrategies, collector: &collector) {
                services.append(service)
            }
        }
        return services
    }

    private mutating func serviceName(_ object: ObjectAtPath, index: Int, names: inout [String: Int]) -> String? {
        let path = object.path.key("name")
        guard object.has("name") else {
            collector.report(path, "missing (every service needs a name)")
            return nil
        }
        guard let name = collector.string(object, "name") else { return nil }
        guard Self.isValidName(name) else {
            collector.report(path, "\(quotedForMessage(name)) is not a valid name (use letters, digits, '_', '.' and '-')")
            return nil
        }
        if let first = names[name] {
            collector.report(path, "\(quotedForMessage(name)) is already used by services[\(first)]")
        } else {
            names[name] = index
        }
        return name
    }

    /// Names appear in admin URLs (`/services/{s}/backends/{b}/drain`) and metric labels,
    /// hence the restricted alphabet.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    /// Services may share one exact address when they route by the ClientHello's server name:
    /// at most one of them has no `serverNames` (the default route). Otherwise an address
    /// belongs to one service.
    private mutating func claimListen(_ listen: ParsedEndpoint, path: JSONPath, owner: String, routesByName: Bool) {
        let sharers = listeners.filter { $0.port == listen.endpoint.port && $0.address == listen.address }
        let namedSharing = !sharers.isEmpty && (routesByName || sharers.contains(where: \.routesByName))
        if namedSharing && listeners.count(where: { $0.port == listen.endpoint.port }) == sharers.count {
            if !routesByName, let defaultRoute = sharers.first(where: { !$0.routesByName }) {
                collector.report(path, "\(listen.endpoint) already has a default route, \(defaultRoute.owner) "
                                    + "(of the services sharing an address, only one may omit serverNames)")
                return
            }
            listeners.append((listen.address, listen.endpoint.port, owner, routesByName))
            return
        }
        if let existing = listenOwner(listen) {
            collector.report(path, "\(listen.endpoint) is already used by \(existing)")
            return
        }
        listeners.append((listen.address, listen.endpoint.port, owner, routesByName))
    }

    /// Who already listens where `listen` would, however either address is spelled: the same
    /// port on an overlapping address (a wildcard bind covers every local address, so the
    /// kernel would refuse the second bind, or worse, SO_REUSEPORT would share it).
    private func listenOwner(_ listen: ParsedEndpoint) -> String? {
        listeners.first { taken in
            taken.port == listen.endpoint.port && ListenOverlap.overlaps(taken.address, listen.address)
        }?.owner
    }
}

extension Result {
    var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}
