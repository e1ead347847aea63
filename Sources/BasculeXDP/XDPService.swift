import BasculeConfig

/// A transport protocol the program forwards for a service.
public enum XDPTransport: String, Sendable, CaseIterable {
    case tcp, udp

    var number: UInt8 {
        switch self {
        case .tcp: 6
        case .udp: 17
        }
    }
}

/// One service as the kernel data plane needs it: which packets are its own, and what the
/// outer packets carry. Fixed while the program runs; backends come with each table.
public struct XDPService: Sendable, Equatable {
    public var name: String
    public var virtualAddress: IPAddress
    public var port: UInt16
    public var transports: [XDPTransport]
    /// The outer packet's source: this node's address on the interface, same family.
    public var source: IPAddress
    /// Hash the client's /24 or /64 instead of its address (`"affinity": "network"`).
    public var networkAffinity: Bool

    public init(name: String, virtualAddress: IPAddress, port: UInt16, transports: [XDPTransport],
                source: IPAddress, networkAffinity: Bool) {
        self.name = name
        self.virtualAddress = virtualAddress
        self.port = port
        self.transports = transports
        self.source = source
        self.networkAffinity = networkAffinity
    }
}

/// A backend as the program needs it: where to send, and whether it keeps its flows.
public struct XDPBackend: Sendable, Equatable {
    public var name: String
    public var address: IPAddress
    /// Established flows stay (up, draining, disabled); false: they move (down).
    public var keepsFlows: Bool

    public init(name: String, address: IPAddress, keepsFlows: Bool) {
        self.name = name
        self.address = address
        self.keepsFlows = keepsFlows
    }
}

/// Packets and bytes (of the client's packets, before encapsulation), summed over CPUs.
public struct XDPTraffic: Sendable, Equatable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// A reading of every counter the program keeps.
public struct XDPStatistics: Sendable {
    public var services: [String: XDPTraffic] = [:]
    /// Per service name, per backend in configuration order.
    public var backends: [String: [(name: String, traffic: XDPTraffic)]] = [:]
    public var verdicts: [(verdict: XDPVerdict, packets: UInt64)] = []

    public init() {}

    public func packets(_ verdict: XDPVerdict) -> UInt64 {
        verdicts.first { $0.verdict == verdict }?.packets ?? 0
    }
}

/// Address bytes as the program's `__u32 address[4]` (network order in memory; IPv4 in the
/// first word, the rest zero).
func addressWords(_ address: IPAddress) -> (UInt32, UInt32, UInt32, UInt32) {
    var padded = address.bytes + [UInt8](repeating: 0, count: 16 - address.bytes.count)
    return padded.withUnsafeMutableBytes { raw in
        (raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self), raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
         raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self), raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    }
}
