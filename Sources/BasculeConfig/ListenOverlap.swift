/// Which addresses meet on one port, as bascule binds them: IPv6 listeners are dual-stack
/// (no IPV6_V6ONLY), so "::" covers every IPv4 and IPv6 address, "0.0.0.0" every IPv4 one,
/// and an IPv4-mapped IPv6 address is the IPv4 address it spells.
public enum ListenOverlap {
    /// Whether listeners on `a` and `b` (same port) would take each other's connections, or
    /// the second bind would fail.
    public static func overlaps(_ a: IPAddress, _ b: IPAddress) -> Bool {
        let a = a.unmapped
        let b = b.unmapped
        if a == b { return true }
        if isDualStackWildcard(a) || isDualStackWildcard(b) { return true }
        if a.isUnspecified && !b.isIPv6 { return true }
        if b.isUnspecified && !a.isIPv6 { return true }
        return false
    }

    /// Whether connecting to `backend` would reach a listener on `listen` (same port): the same
    /// address, or a loopback (or unspecified, which connects to loopback) address the
    /// listener's wildcard covers.
    public static func reaches(_ backend: IPAddress, listener listen: IPAddress) -> Bool {
        let target = backend.unmapped
        if target == listen.unmapped { return true }
        return (target.isLoopback || target.isUnspecified) && overlaps(target, listen)
    }

    private static func isDualStackWildcard(_ address: IPAddress) -> Bool {
        address.isIPv6 && address.isUnspecified
    }
}

extension IPAddress {
    /// ::ffff:a.b.c.d as a.b.c.d; every other address as it is.
    public var unmapped: IPAddress {
        guard isIPv6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return self }
        return IPAddress(bytes: Array(bytes[12..<16]))
    }
}
