import BasculeAdmin
import BasculeConfig
import BasculeProxy
import BasculeXDP
import Glibc
import Logging

/// Starts the kernel data plane for the configuration's `"dataPlane": "xdp"` services (nil when
/// there are none): loads and attaches the XDP program, then lets every table the registry
/// publishes (health, drain, disable, weight, slow start, tiers, reloads) be written into the
/// program's maps, and puts the program's counters on /metrics and /status.
enum KernelDataPlaneStart {
    static func start(_ configuration: BasculeConfiguration, controller: ProxyController, admin: AdminServer,
                      log: Logger) throws -> XDPDataPlane? {
        let xdpServices = configuration.services.filter { $0.xdp != nil }
        guard let first = xdpServices.first?.xdp else { return nil }
        let services = try xdpServices.map { service in
            let settings = service.xdp!
            let family = service.listen.isIPv6 ? AF_INET6 : AF_INET
            guard let source = settings.source ?? interfaceAddress(settings.interface, family: family) else {
                throw AssemblyError(description: "service \(service.name): interface \(settings.interface) has no "
                                        + "\(family == AF_INET6 ? "IPv6" : "IPv4") address to send from; set xdpSource")
            }
            return XDPService(name: service.name, virtualAddress: service.listen.address, port: service.listen.port,
                              transports: settings.protocols.compactMap(XDPTransport.init(rawValue:)),
                              source: source, networkAffinity: service.affinity == .network)
        }
        let plane: XDPDataPlane
        do {
            plane = try XDPDataPlane(interface: first.interface, mode: first.mode == .generic ? .generic : .native,
                                     services: services)
        } catch {
            throw AssemblyError(description: "\(error)")
        }
        log.notice("kernel data plane attached", metadata: [
            "interface": "\(plane.interface)", "mode": "\(plane.mode.rawValue)", "program": "\(plane.programID)",
            "services": "\(services.map(\.name).joined(separator: ","))", "mtu": "\(plane.mtu)",
            "replaced": "\(plane.replacedProgramID == 0 ? "none" : "stale program \(plane.replacedProgramID)")",
        ])
        controller.registry.onTablePublished = { [unowned plane] table, keepingFlows in
            guard table.config.xdp != nil else { return }
            let backends = zip(table.backends, keepingFlows).map { XDPBackend(name: $0.name, address: $0.endpoint.address, keepsFlows: $1) }
            do {
                try plane.publish(service: table.config.name, table: table.strategy.maglevTable, backends: backends)
            } catch {
                log.error("kernel data plane: table not written; the program keeps the previous one", metadata: [
                    "service": "\(table.config.name)", "error": "\(error)",
                ])
            }
        }
        controller.registry.republishToKernel()
        XDPMetrics.expose(plane, on: admin)
        return plane
    }

    /// The first address of `family` on `interface` (link-local IPv6 excluded).
    static func interfaceAddress(_ interface: String, family: Int32) -> IPAddress? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let list else { return nil }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, Int32(address.pointee.sa_family) == family,
                  String(cString: entry.pointee.ifa_name) == interface else { continue }
            if family == AF_INET {
                let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) }
                }
                return IPAddress(bytes: bytes)
            }
            let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
            }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { continue }
            return IPAddress(bytes: bytes)
        }
        return nil
    }
}
