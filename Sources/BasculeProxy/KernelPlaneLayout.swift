import BasculeConfig

/// What of the XDP services the attached program was built with: which services, their
/// virtual address, port, protocols, interface, mode and affinity. A reload may change their
/// backends, weights and checks (the tables are republished), not this.
struct KernelPlaneLayout: Equatable {
    private let services: [Entry]

    private struct Entry: Equatable {
        let name: String
        let listen: Endpoint
        let settings: XDPSettings
        let affinity: Affinity
    }

    init(_ configuration: BasculeConfiguration) {
        services = configuration.services.compactMap { service in
            service.xdp.map { Entry(name: service.name, listen: service.listen, settings: $0, affinity: service.affinity) }
        }
    }

    static let reloadRefusal = "a reload cannot add or remove XDP services or change their listen, interface, xdpMode, xdpSource, "
        + "protocols or affinity (the attached program serves the set it started with); restart to apply"
}
