/// Hash functions with fixed constants. Hashing strategies must give the same answer in every
/// process on every balancer node, so Swift's `Hasher` (seeded randomly per process) is never
/// used here.
public enum StableHash {
    /// The splitmix64 finaliser: a bijection with full avalanche, so nearby inputs (sequential
    /// addresses, small seeds) land far apart.
    @inlinable
    public static func mix64(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// FNV-1a 64 over the UTF-8 bytes, then `mix64`: FNV alone leaves short strings that differ
    /// only in their last byte close together in the high bits.
    public static func fnv1a64(_ text: String, basis: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var hash = basis
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return mix64(hash)
    }

    /// A backend's identity as hashing strategies see it. The NUL separator keeps
    /// ("ab", "c") and ("a", "bc") apart.
    static func identity(of backend: BackendEntry) -> String {
        backend.name + "\u{0}" + backend.address
    }

    /// `value` scaled into `0..<bound` by a multiply-high (Lemire); uniform when `value` is
    /// well mixed, and cheaper than a division on the hot path.
    @inlinable
    static func reduce(_ value: UInt64, into bound: Int) -> Int {
        Int(truncatingIfNeeded: value.multipliedFullWidth(by: UInt64(bound)).high)
    }
}

/// Orders backends by identity so tables built from the same set agree whatever the order
/// of the config file.
extension Array where Element == BackendEntry {
    func sortedByIdentity() -> [BackendEntry] {
        sorted { ($0.name, $0.address, $0.index) < ($1.name, $1.address, $1.index) }
    }
}
