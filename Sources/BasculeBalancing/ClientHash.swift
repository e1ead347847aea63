/// Client identity hashes for affinity. Fixed functions (never Swift's per-process seeded
/// Hasher) so every balancer node maps a client to the same value.
public enum ClientHash {
    public static func ipv4(_ address: UInt32, network: Bool) -> UInt64 {
        mix(UInt64(network ? address & 0xFFFF_FF00 : address) | 0x4_0000_0000)
    }

    public static func ipv6(high: UInt64, low: UInt64, network: Bool) -> UInt64 {
        mix(high ^ mix(network ? 0x6 : low ^ 0x6))
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
