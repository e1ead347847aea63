/// What `bascule check` warns about: valid configurations that trust more than they seem to.
extension BasculeConfiguration {
    public var warnings: [String] {
        var warnings: [String] = []
        let admin = self.admin.listen
        if admin.address.unmapped.isLoopback == false && self.admin.token.isEmpty {
            warnings.append("admin.listen: \(admin) is reachable beyond loopback and admin.token is empty: "
                            + "/status, /metrics and the dashboard are open to whoever reaches it; set a token "
                            + "and keep the port on a management network")
        }
        var own: [(Endpoint, String)] = [(admin, "admin.listen")]
        for (index, service) in services.enumerated() {
            own.append((service.listen, "services[\(index)].listen"))
        }
        for (index, service) in services.enumerated() {
            if service.acceptProxyProtocol && service.trustedProxies.isEmpty {
                warnings.append("services[\(index)].acceptProxyProtocol: no trustedProxies, so any client can send a "
                                + "PROXY header naming any address (past allow/deny and the per-client limit)")
            }
            for (backendIndex, backend) in service.backends.enumerated() {
                for (endpoint, owner) in own where endpoint.port == backend.address.port
                    && ListenOverlap.reaches(backend.address.address, listener: endpoint.address) {
                    warnings.append("services[\(index)].backends[\(backendIndex)].address: \(backend.address) is this "
                                    + "balancer's own \(owner) (\(endpoint)): a loop that makes remote clients loopback callers")
                }
            }
        }
        for (index, service) in services.enumerated() where service.xdp != nil && service.healthCheck.type == .none {
            warnings.append("services[\(index)].healthCheck: with no checks, nothing on this node talks to the backends, so the "
                            + "next hop's neighbour entry the XDP program needs may never be resolved (packets dropped as no_neighbour)")
        }
        let kernelServices = services.filter { $0.xdp != nil }.map(\.name)
        if accessLog != nil && !kernelServices.isEmpty {
            warnings.append("accessLog: the XDP services (\(kernelServices.joined(separator: ", "))) hold no connections here, "
                            + "so none of their traffic is logged; /metrics counts their packets")
        }
        return warnings
    }
}
