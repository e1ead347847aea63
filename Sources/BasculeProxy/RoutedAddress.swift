import BasculeConfig

/// One listen address shared by services that route by the TLS ClientHello, as a worker
/// needs it: its listening socket, the routes (naming services by table id), the bounds on
/// the ClientHello, and the counters every worker bumps.
struct RoutedAddress: Sendable {
    let listen: Endpoint
    let routes: ServerNameRoutes
    let acceptsProxyHeader: Bool
    let timeoutMs: UInt64
    let maxBytes: Int
    let counters: RouteCounters
}

/// A worker's copy: the address and this worker's listening socket on it (and any surplus
/// sockets it serves after a takeover with fewer workers).
struct WorkerRoutedAddress: Sendable {
    let address: RoutedAddress
    let listener: Int32
    var moreListeners: [Int32] = []
}

extension RoutedAddress {
    /// The services of `configuration` grouped by listen address, for each address where one
    /// of them has `serverNames`; `tableID(i)` is the id of services[i]'s table.
    static func groups(_ services: [ServiceConfig], tableID: (Int) -> Int, clientHello: ClientHelloSettings) -> [RoutedAddress] {
        var order: [Endpoint] = []
        var members: [Endpoint: [Int]] = [:]
        for (index, service) in services.enumerated() {
            if members[service.listen] == nil { order.append(service.listen) }
            members[service.listen, default: []].append(index)
        }
        return order.compactMap { listen in
            let group = members[listen]!
            guard group.contains(where: { services[$0].routesByServerName }) else { return nil }
            var routes: [ServerNameRoutes.Route] = []
            var labels: [(label: String, service: String, id: Int)] = []
            var defaultService: Int?
            var nonTLSToDefault = false
            for index in group {
                let service = services[index]
                if service.routesByServerName {
                    routes.append(.init(service: tableID(index), serverNames: service.serverNames, alpn: service.alpn))
                    labels += service.serverNames.map { ($0, service.name, tableID(index)) }
                } else {
                    defaultService = tableID(index)
                    nonTLSToDefault = service.acceptNonTLS
                    labels.append(("default", service.name, tableID(index)))
                }
            }
            labels.append(("refused", "", -1))
            return RoutedAddress(listen: listen,
                                 routes: ServerNameRoutes(routes: routes, defaultService: defaultService,
                                                          nonTLSToDefault: nonTLSToDefault),
                                 acceptsProxyHeader: services[group[0]].acceptProxyProtocol,
                                 timeoutMs: UInt64(clientHello.timeoutMs), maxBytes: clientHello.maxBytes,
                                 counters: RouteCounters(listen: listen.description, routes: labels))
        }
    }
}
