import BasculeConfig
import BasculeXDP

/// The kernel data plane's counters on /metrics and /status: packets and bytes per service and
/// per backend, and what the program did with every packet (forwarded, passed to the stack,
/// dropped, by reason), read from its per-CPU maps and summed at each scrape.
public enum XDPMetrics {
    public static func expose(_ plane: XDPDataPlane, on admin: AdminServer) {
        admin.extraMetrics.append { render(plane.statistics(), interface: plane.interface) }
        admin.extraStatus.append((key: "xdp", value: { status(plane) }))
    }

    static func render(_ statistics: XDPStatistics, interface: String) -> String {
        var servicePackets = MetricFamily(name: "bascule_xdp_service_packets_total",
                                          help: "Client packets the XDP program forwarded for the service.", type: .counter)
        var serviceBytes = MetricFamily(name: "bascule_xdp_service_bytes_total",
                                        help: "Bytes of client packets (before encapsulation) forwarded for the service.", type: .counter)
        var backendPackets = MetricFamily(name: "bascule_xdp_backend_packets_total",
                                          help: "Client packets the XDP program forwarded to the backend.", type: .counter)
        var backendBytes = MetricFamily(name: "bascule_xdp_backend_bytes_total",
                                        help: "Bytes of client packets (before encapsulation) forwarded to the backend.", type: .counter)
        var verdicts = MetricFamily(name: "bascule_xdp_packets_total",
                                    help: "Packets seen by the XDP program, by action (forwarded, passed, dropped) and reason.", type: .counter)
        for name in statistics.services.keys.sorted() {
            let traffic = statistics.services[name]!
            servicePackets.add(Double(traffic.packets), [("service", name)])
            serviceBytes.add(Double(traffic.bytes), [("service", name)])
        }
        for name in statistics.backends.keys.sorted() {
            for (backend, traffic) in statistics.backends[name]! {
                let labels = [("service", name), ("backend", backend)]
                backendPackets.add(Double(traffic.packets), labels)
                backendBytes.add(Double(traffic.bytes), labels)
            }
        }
        for (verdict, packets) in statistics.verdicts {
            verdicts.add(Double(packets), [("interface", interface), ("action", verdict.action), ("reason", verdict.reason)])
        }
        return [servicePackets, serviceBytes, backendPackets, backendBytes, verdicts].map(\.rendered).joined()
    }

    static func status(_ plane: XDPDataPlane) -> JSONValue {
        let statistics = plane.statistics()
        func traffic(_ value: XDPTraffic) -> JSONValue {
            .object([JSONMember(key: "packets", value: .number(JSONNumber(literal: "\(value.packets)", isInteger: true))),
                     JSONMember(key: "bytes", value: .number(JSONNumber(literal: "\(value.bytes)", isInteger: true)))])
        }
        return .object([
            JSONMember(key: "interface", value: .string(plane.interface)),
            JSONMember(key: "mode", value: .string(plane.mode.rawValue)),
            JSONMember(key: "programId", value: .number(JSONNumber(literal: "\(plane.programID)", isInteger: true))),
            JSONMember(key: "services", value: .object(plane.services.map { service in
                JSONMember(key: service.name, value: .object([
                    JSONMember(key: "traffic", value: traffic(statistics.services[service.name] ?? XDPTraffic())),
                    JSONMember(key: "backends", value: .object((statistics.backends[service.name] ?? []).map {
                        JSONMember(key: $0.name, value: traffic($0.traffic))
                    })),
                ]))
            })),
            JSONMember(key: "packets", value: .object(statistics.verdicts.map { verdict, packets in
                JSONMember(key: "\(verdict.action).\(verdict.reason)", value: .number(JSONNumber(literal: "\(packets)", isInteger: true)))
            })),
        ])
    }
}
