import BasculePosix

/// When admission is decided: at accept, or, behind an upstream balancer, once its PROXY
/// header has named the client.
enum AdmissionStage {
    case accept
    case proxyHeader
}

/// Admission, written once for both stages.
extension Worker {
    /// Order: allow/deny, then the process and service limits (taken at accept), then the
    /// per-client limit. Behind an upstream balancer (acceptProxyProtocol) the peer at accept
    /// is that balancer, so allow/deny and the per-client limit wait for the client its
    /// header names. A refusal is counted and logged here and nothing is held; the caller
    /// closes the connection and writes the access-log line.
    /// `table` is the service's current one, which the caller holds already. Inlined: out of
    /// line, with the table read again, it cost ~80 instructions per connection (callgrind.sh).
    @inline(__always)
    func admit(_ admission: inout Admission, _ service: ServiceRuntime, _ table: ServiceTable,
               address: SocketAddress, at stage: AdmissionStage) -> CloseReason? {
        let isClient = stage == .proxyHeader || !table.config.acceptProxyProtocol
        // A header from a peer that is not a trusted upstream would let any client choose the
        // address allow/deny and the per-client limit judge: refused, and counted apart from
        // allow/deny, so an operator tells a misconfigured upstream from a denied client.
        if stage == .accept, let trusted = table.trustedProxies, !trusted.permits(address) {
            service.traffic.untrustedProxies.bump()
            noteRefusal(service, "refused: not a trusted proxy (trustedProxies)", peer: address)
            return .deniedByAccessList
        }
        if isClient, let accessList = table.accessList, !accessList.permits(address) {
            service.traffic.denied.bump()
            noteRefusal(service, "denied by allow/deny", peer: address)
            return .deniedByAccessList
        }
        if stage == .accept && !admission.takeSharedPlaces(processLimits, table) {
            return refuse(service, peer: address)
        }
        if isClient && !admission.admitClient(address, table: table) {
            admission.release()
            return refuse(service, peer: address)
        }
        return nil
    }

    private func refuse(_ service: ServiceRuntime, peer: SocketAddress) -> CloseReason {
        service.traffic.refused.bump()
        noteRefusal(service, "refused by a connection limit", peer: peer)
        return .refusedByLimit
    }
}
