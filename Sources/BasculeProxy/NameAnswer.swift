import BasculeConfig

/// What one resolution of a host name found: every A and AAAA address, and how long the
/// answer may be kept (the smallest TTL among its records; nil when the source gives none).
public struct NameAnswer: Sendable, Equatable {
    /// One address family whose query failed while the other's succeeded: its addresses are
    /// not known this time, so the last good ones of that family are kept.
    public struct Unanswered: Sendable, Equatable {
        public var ipv6: Bool
        public var failure: ResolutionFailure
    }

    public var addresses: [IPAddress]
    public var ttlSeconds: UInt32?
    public var unanswered: Unanswered?

    public init(addresses: [IPAddress], ttlSeconds: UInt32?, unanswered: Unanswered? = nil) {
        self.addresses = addresses
        self.ttlSeconds = ttlSeconds
        self.unanswered = unanswered
    }
}

/// Why a resolution gave no usable answer. Every case keeps the last good addresses: a DNS
/// outage, or a record deleted by mistake, must not empty a pool that still works.
public enum ResolutionFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// NXDOMAIN: the name does not exist.
    case nameNotFound
    /// The name exists with neither A nor AAAA records.
    case noAddresses
    /// SERVFAIL or another failure code from the server.
    case serverFailure(rcode: Int)
    /// No server answered in time.
    case timeout
    /// No server listening (connection refused), or the server refused the query.
    case refused
    case other(String)

    /// The `result` label of `bascule_dns_resolutions_total`.
    public var label: String {
        switch self {
        case .nameNotFound: return "nxdomain"
        case .noAddresses: return "nodata"
        case .serverFailure: return "servfail"
        case .timeout: return "timeout"
        case .refused: return "refused"
        case .other: return "error"
        }
    }

    public var description: String {
        switch self {
        case .nameNotFound: return "NXDOMAIN: the name does not exist"
        case .noAddresses: return "no A or AAAA records"
        case .serverFailure(let rcode): return "the DNS server answered with an error (rcode \(rcode)\(rcode == 2 ? ", SERVFAIL" : ""))"
        case .timeout: return "no DNS server answered in time"
        case .refused: return "the DNS server refused the query or is not listening"
        case .other(let message): return message
        }
    }
}

/// Where host names are resolved: the system's resolver (`SystemAddressSource`), or a fake
/// in tests. Called on the resolver thread only; it may block.
public protocol AddressSource: Sendable {
    func resolve(_ host: HostName) -> Result<NameAnswer, ResolutionFailure>
}
