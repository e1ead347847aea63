/// How a service's packets are carried: by the proxy (TCP terminated here, the default) or by
/// the kernel data plane (an XDP program forwards them to the backends, which answer the
/// clients directly).
public enum DataPlane: String, Sendable, Equatable {
    case proxy, xdp
}

/// `"xdpMode"`: native (in the driver) unless generic is asked for; never a silent fallback.
public enum XDPModeSetting: String, Sendable, Equatable {
    case native, generic
}

/// A service's kernel data plane settings (`"dataPlane": "xdp"`).
public struct XDPSettings: Sendable, Equatable {
    /// The device the program attaches to: where the virtual address's packets arrive.
    public var interface: String
    public var mode: XDPModeSetting
    /// The outer packets' source; nil: the interface's own address of the service's family,
    /// looked up at start.
    public var source: IPAddress?
    /// "tcp" and/or "udp"; TCP only unless told.
    public var protocols: [String]

    public init(interface: String, mode: XDPModeSetting = .native, source: IPAddress? = nil, protocols: [String] = ["tcp"]) {
        self.interface = interface
        self.mode = mode
        self.source = source
        self.protocols = protocols
    }
}
