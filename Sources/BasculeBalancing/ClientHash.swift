/// The client identity a hashing strategy sees (`PickContext.clientHash`). Fixed functions of
/// the address only, so every worker and every balancer node sends a client to the same place.
public enum ClientHash {
    // Distinct constants keep an IPv4 address and an IPv6 address with the same bits apart.
    private static let ipv4Domain: UInt64 = 0x6970_7634_0000_0000  // "ipv4"
    private static let ipv6Domain: UInt64 = 0x6970_7636_0000_0000  // "ipv6"

    /// `address` in host byte order; `network` hashes its /24 instead, so clients behind a
    /// pool of NAT addresses keep one backend.
    public static func ipv4(_ address: UInt32, network: Bool) -> UInt64 {
        let key = network ? address & 0xFFFF_FF00 : address
        return StableHash.mix64(UInt64(key) ^ ipv4Domain)
    }

    /// `network` hashes the /64 (the high half) only: one subscriber's prefix, whatever
    /// interface identifier privacy extensions pick.
    public static func ipv6(high: UInt64, low: UInt64, network: Bool) -> UInt64 {
        let prefix = StableHash.mix64(high ^ ipv6Domain)
        return network ? prefix : StableHash.mix64(prefix ^ low)
    }
}
