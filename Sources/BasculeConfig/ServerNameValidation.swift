/// The rules for services that share a listen address and route by the TLS ClientHello:
/// `serverNames`, `alpn`, `acceptNonTLS`, and what the services of one address must agree on.
enum ServerNameValidation {
    struct Routing {
        var serverNames: [String] = []
        var alpn: [String] = []
        var acceptNonTLS = false
    }

    static func routing(_ object: ObjectAtPath, collector: inout ErrorCollector) -> Routing {
        var routing = Routing()
        if let elements = collector.array(object, "serverNames") {
            let path = object.path.key("serverNames")
            if elements.isEmpty {
                collector.report(path, "empty list (omit serverNames to make this the address's default route)")
            }
            var seen: [String: Int] = [:]
            for (index, element) in elements.enumerated() {
                guard case .string(let text) = element else {
                    collector.report(path.index(index), "expected a host name string, got \(element.summaryForMessages)")
                    continue
                }
                let name = text.lowercased()
                if let problem = patternProblem(name) {
                    collector.report(path.index(index), "\(quotedForMessage(text)) \(problem)")
                } else if let first = seen[name] {
                    collector.report(path.index(index), "\(quotedForMessage(text)) is already listed at serverNames[\(first)]")
                } else {
                    seen[name] = index
                    routing.serverNames.append(name)
                }
            }
        }
        if let elements = collector.array(object, "alpn") {
            let path = object.path.key("alpn")
            if !object.has("serverNames") {
                collector.report(path, "needs serverNames (the default route takes every protocol)")
            }
            if elements.isEmpty { collector.report(path, "empty list (omit alpn to take every protocol)") }
            for (index, element) in elements.enumerated() {
                guard case .string(let text) = element, !text.isEmpty, text.utf8.count <= 255 else {
                    collector.report(path.index(index), "expected a protocol name of 1 to 255 bytes (\"h2\", \"http/1.1\"), got \(element.summaryForMessages)")
                    continue
                }
                if routing.alpn.contains(text) {
                    collector.report(path.index(index), "\(quotedForMessage(text)) is listed twice")
                } else {
                    routing.alpn.append(text)
                }
            }
        }
        routing.acceptNonTLS = collector.bool(object, "acceptNonTLS") ?? false
        if routing.acceptNonTLS && object.has("serverNames") {
            collector.report(object.path.key("acceptNonTLS"),
                             "only the default route (the service without serverNames) can take non-TLS connections")
        }
        return routing
    }

    /// Why `name` (lowercased) cannot be a route, or nil. Exact names are DNS host names;
    /// a wildcard is `*.` and a name of at least two labels, matching one more label.
    static func patternProblem(_ name: String) -> String? {
        var host = Substring(name)
        if name.hasPrefix("*.") {
            host = name.dropFirst(2)
            guard host.contains(".") else { return "is too broad (a wildcard needs at least two labels after \"*.\")" }
        } else if name.contains("*") {
            return "is not a host name (a wildcard is written \"*.example.com\": one \"*\" as the whole first label)"
        }
        guard !host.isEmpty, host.utf8.count <= 253 else { return "is not a host name (1 to 253 bytes)" }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            let valid = !label.isEmpty && label.utf8.count <= 63 && label.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
            if !valid { return "is not a host name (labels of letters, digits, '-' and '_', separated by single dots)" }
        }
        return nil
    }

    /// Across the services of one shared address: no name routed twice for the same
    /// protocols (the later route could never be reached), and one answer to whether a PROXY
    /// header comes first (it is read before the ClientHello, so before the route is known).
    static func checkSharedAddresses(_ services: [ServiceConfig], at path: JSONPath, collector: inout ErrorCollector) {
        var groups: [Endpoint: [Int]] = [:]
        for (index, service) in services.enumerated() { groups[service.listen, default: []].append(index) }
        for index in services.indices {
            let service = services[index]
            // acceptNonTLS on a service alone on its address is harmless: everything comes there.
            guard let group = groups[service.listen], group.count > 1 || service.routesByServerName else { continue }
            let earlier = group.prefix { $0 < index }
            if let first = earlier.first, services[first].acceptProxyProtocol != service.acceptProxyProtocol {
                collector.report(path.index(index).key("acceptProxyProtocol"),
                                 "must match services[\(first)] (\(services[first].name)), which shares \(service.listen): "
                                    + "the PROXY header is read before the ClientHello picks a service")
            }
            for (nameIndex, name) in service.serverNames.enumerated() {
                for other in earlier {
                    guard services[other].serverNames.contains(name) else { continue }
                    let theirs = services[other].alpn
                    let mine = service.alpn
                    let overlap = mine.isEmpty || theirs.isEmpty ? (mine.isEmpty && theirs.isEmpty) : !Set(mine).isDisjoint(with: theirs)
                    guard overlap else { continue }
                    let what = mine.isEmpty ? "" : " for ALPN \(mine.filter(theirs.contains).map { quotedForMessage($0) }.joined(separator: ", "))"
                    collector.report(path.index(index).key("serverNames").index(nameIndex),
                                     "\(quotedForMessage(name)) is already routed\(what) by services[\(other)] (\(services[other].name)) "
                                        + "on \(service.listen): this route could never be reached")
                    break
                }
            }
        }
    }
}
