import Glibc

/// The rules for a service with `"dataPlane": "xdp"`. The kernel forwards its packets without
/// terminating TCP, so whatever needs a connection in user space cannot apply: each such
/// option is refused naming its field, rather than silently ignored.
enum XDPServiceValidation {
    static let keys = ["dataPlane", "interface", "xdpMode", "xdpSource", "protocols"]
    /// From xdp_maps.h (BasculeConfig knows nothing of BPF): services per node, backends per
    /// service, Maglev slots per table.
    static let maxServices = 16
    static let maxBackends = 1024
    static let maxTableSize = 65537
    static let protocols = ["tcp", "udp"]

    /// Options that need the proxy, and why.
    static let proxyOnly: [(key: String, why: String)] = [
        ("serverNames", "TLS server-name routing reads the ClientHello, which needs a terminated connection"),
        ("alpn", "TLS server-name routing reads the ClientHello, which needs a terminated connection"),
        ("acceptNonTLS", "TLS server-name routing reads the ClientHello, which needs a terminated connection"),
        ("proxyProtocol", "no PROXY header can be added to packets forwarded as they are; backends see the client's address anyway"),
        ("acceptProxyProtocol", "the kernel data plane does not read the stream"),
        ("trustedProxies", "the kernel data plane does not read the stream"),
        ("allow", "allow/deny lists are applied by the proxy; filter before the balancer (nftables) for an XDP service"),
        ("deny", "allow/deny lists are applied by the proxy; filter before the balancer (nftables) for an XDP service"),
        ("maxConnections", "the balancer does not hold connections, so it cannot count them"),
        ("maxConnectionsPerClient", "the balancer does not hold connections, so it cannot count them"),
    ]

    static func isXDP(_ object: ObjectAtPath) -> Bool {
        if case .string("xdp")? = object["dataPlane"] { return true }
        return false
    }

    /// The settings of an XDP service, or nil for a proxied one (or when they are invalid,
    /// reported to `collector`).
    static func settings(_ object: ObjectAtPath, strategy: String, listen: ParsedEndpoint?,
                         collector: inout ErrorCollector) -> XDPSettings? {
        let plane = collector.choice(object, "dataPlane", what: "data plane", choices: [DataPlane.proxy, .xdp]) ?? .proxy
        guard plane == .xdp else {
            for key in keys.dropFirst() where object.has(key) {
                collector.report(object.path.key(key), "only for \"dataPlane\": \"xdp\"")
            }
            return nil
        }
        var valid = true
        for (key, why) in proxyOnly where object.has(key) {
            collector.report(object.path.key(key), "not possible with \"dataPlane\": \"xdp\": \(why)")
            valid = false
        }
        if strategy != "maglev" {
            collector.report(object.path.key("strategy"),
                             "\"dataPlane\": \"xdp\" places flows by a Maglev table in the kernel: use \"maglev\" (or leave strategy out)")
            valid = false
        }
        let interface = collector.string(object, "interface")
        if !object.has("interface") {
            collector.report(object.path.key("interface"), "missing (\"dataPlane\": \"xdp\" needs the device its packets arrive on)")
            valid = false
        } else if let interface, !isKnownInterface(interface) {
            collector.report(object.path.key("interface"), "no network interface \(quotedForMessage(interface)) on this host")
            valid = false
        }
        let mode = collector.choice(object, "xdpMode", what: "XDP mode", choices: [XDPModeSetting.native, .generic]) ?? .native
        var source: IPAddress?
        if let text = collector.string(object, "xdpSource") {
            source = IPAddress(text)
            if source == nil {
                collector.report(object.path.key("xdpSource"), "\(quotedForMessage(text)) is not an IP address")
                valid = false
            } else if let listen, source!.isIPv6 != listen.address.isIPv6 {
                collector.report(object.path.key("xdpSource"),
                                 "\(text) is not of the listen address's family (IP-in-IP carries IPv4 in IPv4 and IPv6 in IPv6)")
                valid = false
            }
        }
        var protocols = ["tcp"]
        if let elements = collector.array(object, "protocols") {
            protocols = []
            for (index, element) in elements.enumerated() {
                guard case .string(let name) = element, Self.protocols.contains(name), !protocols.contains(name) else {
                    collector.report(object.path.key("protocols").index(index),
                                     "expected \"tcp\" or \"udp\" (each once), got \(element.summaryForMessages)")
                    valid = false
                    continue
                }
                protocols.append(name)
            }
            if elements.isEmpty {
                collector.report(object.path.key("protocols"), "empty (list \"tcp\", \"udp\" or both)")
                valid = false
            }
        }
        if let listen {
            if listen.address.isUnspecified || listen.address.isLoopback || listen.endpoint.port == 0 {
                collector.report(object.path.key("listen"),
                                 "\"dataPlane\": \"xdp\" matches packets by the virtual address and port itself: not a wildcard, loopback or port 0")
                valid = false
            }
        }
        valid = checkBackends(object, listen: listen, collector: &collector) && valid
        guard valid, let interface else { return nil }
        return XDPSettings(interface: interface, mode: mode, source: source, protocols: protocols)
    }

    /// Backends receive the packet as the client sent it, inside IP-in-IP of the same family:
    /// they must be of the listen address's family and serve its port.
    private static func checkBackends(_ object: ObjectAtPath, listen: ParsedEndpoint?, collector: inout ErrorCollector) -> Bool {
        guard let listen, case .array(let elements)? = object["backends"] else { return true }
        var valid = true
        if elements.count > maxBackends || MaglevSize.tableSize(backends: elements.count) > maxTableSize {
            collector.report(object.path.key("backends"),
                             "\(elements.count) backends: a kernel-plane service takes at most 655 (its Maglev table must fit \(maxTableSize) slots)")
            valid = false
        }
        for (index, element) in elements.enumerated() {
            guard case .object(let members) = element,
                  case .string(let text)? = members.first(where: { $0.key == "address" })?.value else { continue }
            // A name's addresses would reach the kernel plane unchecked for family and port.
            if case .success(.name(let host, _)) = EndpointParsing.parseBackend(text) {
                collector.report(object.path.key("backends").index(index).key("address"),
                                 "\(host.text) is a host name: a kernel-plane (xdp) service takes IP-literal backends only")
                valid = false
                continue
            }
            guard case .success(let parsed) = EndpointParsing.parse(text) else { continue }
            if let problem = backendProblem(parsed.endpoint, listen: listen.endpoint) {
                collector.report(object.path.key("backends").index(index).key("address"), problem)
                valid = false
            }
        }
        return valid
    }

    /// Why `backend` cannot serve an XDP service listening on `listen`, or nil (also for
    /// backends added through the admin API).
    static func backendProblem(_ backend: Endpoint, listen: Endpoint) -> String? {
        if backend.isIPv6 != listen.isIPv6 {
            return "\(backend) is not of the listen address's family (IP-in-IP carries IPv4 in IPv4 and IPv6 in IPv6)"
        }
        if backend.port != listen.port {
            return "port \(backend.port) differs from the listen port \(listen.port): packets keep their destination, "
                + "so the backend serves the virtual address on that port (check another port with healthCheck.port)"
        }
        return nil
    }

    /// The rules across services: one interface per node (one program), at most 16 services.
    static func checkAcrossServices(_ services: [ServiceConfig], at path: JSONPath, collector: inout ErrorCollector) {
        let xdp = services.enumerated().filter { $0.element.xdp != nil }
        guard let first = xdp.first else { return }
        if xdp.count > maxServices {
            collector.report(path, "\(xdp.count) services with \"dataPlane\": \"xdp\": at most \(maxServices) per node")
        }
        for (index, service) in xdp.dropFirst() {
            if service.xdp!.interface != first.element.xdp!.interface {
                collector.report(path.index(index).key("interface"),
                                 "\(quotedForMessage(service.xdp!.interface)): every XDP service of a node attaches to one interface, "
                                    + "here \(quotedForMessage(first.element.xdp!.interface)) (services[\(first.offset)])")
            } else if service.xdp!.mode != first.element.xdp!.mode {
                collector.report(path.index(index).key("xdpMode"), "differs from services[\(first.offset)] on the same interface")
            }
        }
    }

    private static func isKnownInterface(_ name: String) -> Bool {
        !name.isEmpty && name.count < 16 && !name.contains("/") && access("/sys/class/net/\(name)", F_OK) == 0
    }
}

/// Maglev's table size rule (BasculeBalancing.MaglevTable.tableSize, which Config cannot
/// import): the next prime at least 65537 and 100 × the backend count.
enum MaglevSize {
    static func tableSize(backends: Int) -> Int {
        var candidate = max(65537, 100 * backends)
        while !isPrime(candidate) { candidate += 1 }
        return candidate
    }

    private static func isPrime(_ n: Int) -> Bool {
        if n % 2 == 0 { return n == 2 }
        var divisor = 3
        while divisor * divisor <= n {
            if n % divisor == 0 { return false }
            divisor += 2
        }
        return true
    }
}
