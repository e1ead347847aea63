import BasculeBalancing
import BasculeConfig
import CBPF
import Glibc

/// The kernel data plane of one node: the XDP program attached to one interface, serving the
/// services given at start. The control plane calls `publish` whenever a service's backend set
/// changes (health, drain, disable, weight, slow start, tiers), with the Maglev table that
/// `BasculeBalancing` built for it: the kernel places new flows with the very table a proxy
/// node would use. Control thread only.
public final class XDPDataPlane {
    public let interface: String
    public let mode: XDPAttachMode
    public let flowTableSize: Int
    public let services: [XDPService]
    /// The largest outer packet the interface sends (its MTU).
    public let mtu: Int
    private let program: XDPProgram
    private let maps: Maps

    /// The program's maps (xdp_forward.c).
    private struct Maps {
        let services, virtualAddresses, backends, maglev, flows, backendStats, serviceStats, verdicts: Int32

        init(_ program: XDPProgram) throws {
            services = try program.map("services")
            virtualAddresses = try program.map("vips")
            backends = try program.map("backends")
            maglev = try program.map("maglev")
            flows = try program.map("flows")
            backendStats = try program.map("backend_stats")
            serviceStats = try program.map("service_stats")
            verdicts = try program.map("verdicts")
        }
    }
    private var halves: [UInt32]
    private var backendNames: [[String]]
    /// The tables currently in the kernel, for `/status` and the agreement tests.
    public private(set) var tables: [MaglevTable?]

    public static let maxServices = Int(BASCULE_MAX_SERVICES)
    public static let maxBackends = Int(BASCULE_MAX_BACKENDS)
    public static let maxTableSize = Int(BASCULE_MAGLEV_STRIDE)
    public static let defaultFlowTableSize = 131_072

    /// Loads the program (the kernel verifies it), writes the services with no backend yet
    /// (their packets are dropped as `no_backend` until the first `publish`), and attaches.
    public init(interface: String, mode: XDPAttachMode, services: [XDPService],
                flowTableSize: Int = XDPDataPlane.defaultFlowTableSize) throws {
        precondition(services.count <= Self.maxServices)
        self.interface = interface
        self.mode = mode
        self.flowTableSize = flowTableSize
        self.services = services
        mtu = Self.interfaceMTU(interface)
        program = try XDPProgram(.forward, interface: interface, mode: mode, sizes: ["flows": flowTableSize])
        maps = try Maps(program)
        halves = Array(repeating: 0, count: services.count)
        backendNames = Array(repeating: [], count: services.count)
        tables = Array(repeating: nil, count: services.count)
        for slot in services.indices {
            try writeService(slot: slot, tableSize: 0)
            var key = vip_key()
            key.address = addressWords(services[slot].virtualAddress)
            key.family = UInt32(services[slot].virtualAddress.isIPv6 ? AF_INET6 : AF_INET)
            var one: UInt32 = 1
            try update(maps.virtualAddresses, &key, &one, what: "vips")
        }
        try program.attach()
    }

    /// The kernel's id of the attached program (`bpftool prog show id`).
    public var programID: UInt32 { program.programID }
    /// A stale program of ours that attaching replaced (0: none).
    public var replacedProgramID: UInt32 { program.replacedProgramID }

    /// Takes the program off the interface; packets go to the stack again. Idempotent.
    public func detach() {
        program.detach()
    }

    /// Writes a service's backends and Maglev table: backends first (with whether each keeps
    /// the flows it has: up or draining), then the table into the half not in use, then the
    /// switch to it. `backends` in configuration order (the table's `BackendEntry.index` is a
    /// position in it); `table` nil: no eligible backend, new flows are dropped.
    public func publish(service name: String, table: MaglevTable?, backends: [XDPBackend]) throws {
        guard let slot = services.firstIndex(where: { $0.name == name }) else { return }
        for (position, backend) in backends.enumerated() where position < Self.maxBackends {
            var key = UInt32(slot * Self.maxBackends + position)
            var value = backend_value()
            value.address = addressWords(backend.address)
            value.flags = backend.keepsFlows ? BACKEND_TAKES_FLOWS : 0
            try update(maps.backends, &key, &value, what: "backends")
        }
        // Positions a reload removed keep no flows.
        for position in backends.count..<max(backends.count, backendNames[slot].count) {
            var key = UInt32(slot * Self.maxBackends + position)
            var value = backend_value()
            try update(maps.backends, &key, &value, what: "backends")
        }
        backendNames[slot] = backends.prefix(Self.maxBackends).map(\.name)
        guard let table, table.size <= Self.maxTableSize else {
            tables[slot] = nil
            return try writeService(slot: slot, tableSize: 0)
        }
        let half = halves[slot] ^ 1
        let base = UInt32((slot * 2 + Int(half)) * Self.maxTableSize)
        var keys = (0..<UInt32(table.size)).map { base + $0 }
        var values = table.slots.map { UInt32(table.backends[Int($0)].index) }
        var count = UInt32(table.size)
        let rc = bpf_map_update_batch(maps.maglev, &keys, &values, &count, nil)
        guard rc == 0 else { throw XDPError(step: "writing the Maglev table of \(name)", errno: -rc) }
        halves[slot] = half
        tables[slot] = table
        try writeService(slot: slot, tableSize: table.size)
    }

    private func writeService(slot: Int, tableSize: Int) throws {
        let service = services[slot]
        var value = service_value()
        value.slot = UInt32(slot)
        value.table_size = UInt32(tableSize)
        value.table_half = halves[slot]
        value.flags = service.networkAffinity ? SERVICE_AFFINITY_NETWORK : 0
        value.source = addressWords(service.source)
        value.mtu = UInt32(mtu)
        for transport in service.transports {
            var key = service_key()
            key.address = addressWords(service.virtualAddress)
            key.port = service.port.bigEndian
            key.protocol = transport.number
            key.family = UInt8(service.virtualAddress.isIPv6 ? AF_INET6 : AF_INET)
            try update(maps.services, &key, &value, what: "services")
        }
    }

    private func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ map: Int32, _ key: inout Key, _ value: inout Value,
                                                                      what: String) throws {
        let rc = withUnsafeBytes(of: &key) { key in
            withUnsafeBytes(of: &value) { value in
                bpf_map_update_elem(map, key.baseAddress, value.baseAddress, UInt64(BPF_ANY))
            }
        }
        guard rc == 0 else { throw XDPError(step: "writing map \(what)", errno: -rc) }
    }

    // MARK: Counters

    /// Every counter, summed over CPUs: per service, per backend, per verdict.
    public func statistics() -> XDPStatistics {
        var statistics = XDPStatistics()
        for (slot, service) in services.enumerated() {
            statistics.services[service.name] = traffic(maps.serviceStats, key: UInt32(slot))
            statistics.backends[service.name] = backendNames[slot].enumerated().map { position, name in
                (name, traffic(maps.backendStats, key: UInt32(slot * Self.maxBackends + position)))
            }
        }
        statistics.verdicts = XDPVerdict.allCases.map { verdict in
            (verdict, perCPU(maps.verdicts, key: UInt32(verdict.rawValue), words: 1).reduce(0, &+))
        }
        return statistics
    }

    /// Flows the connection table holds now (walks the map: for tests and `/status`, not for
    /// every scrape of a busy node).
    public func trackedFlows() -> Int {
        var key = flow_key()
        var next = flow_key()
        var count = 0
        var rc = bpf_map_get_next_key(maps.flows, nil, &next)
        while rc == 0 && count < flowTableSize * 2 {
            count += 1
            key = next
            rc = bpf_map_get_next_key(maps.flows, &key, &next)
        }
        return count
    }

    private static let possibleCPUs = max(1, Int(libbpf_num_possible_cpus()))

    private func perCPU(_ map: Int32, key: UInt32, words: Int) -> [UInt64] {
        var key = key
        var values = [UInt64](repeating: 0, count: Self.possibleCPUs * words)
        guard bpf_map_lookup_elem(map, &key, &values) == 0 else { return [] }
        return values
    }

    private func traffic(_ map: Int32, key: UInt32) -> XDPTraffic {
        let values = perCPU(map, key: key, words: 2)
        var total = XDPTraffic()
        var index = 0
        while index + 1 < values.count {
            total.packets &+= values[index]
            total.bytes &+= values[index + 1]
            index += 2
        }
        return total
    }

    private static func interfaceMTU(_ interface: String) -> Int {
        guard let file = fopen("/sys/class/net/\(interface)/mtu", "r") else { return 1500 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 32)
        guard fgets(&line, 32, file) != nil else { return 1500 }
        return Int(strtol(line, nil, 10)) > 0 ? Int(strtol(line, nil, 10)) : 1500
    }
}
