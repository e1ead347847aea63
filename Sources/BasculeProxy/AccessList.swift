import BasculeConfig
import BasculePosix

/// A service's `allow`/`deny` lists, checked on every accepted connection: deny wins over
/// allow, and an empty allow list allows everyone not denied. Rules are split by family and
/// kept as (network, mask) pairs so a check is a few integer operations per rule and no
/// allocation.
public struct AccessList: Sendable {
    struct IPv4Rule: Sendable, Equatable {
        let network: UInt32
        let mask: UInt32
    }

    struct IPv6Rule: Sendable, Equatable {
        let high: UInt64
        let low: UInt64
        let maskHigh: UInt64
        let maskLow: UInt64
    }

    struct Rules: Sendable {
        var ipv4: [IPv4Rule] = []
        var ipv6: [IPv6Rule] = []

        var isEmpty: Bool { ipv4.isEmpty && ipv6.isEmpty }

        func matches(ipv4 address: UInt32) -> Bool {
            for rule in ipv4 where address & rule.mask == rule.network { return true }
            return false
        }

        func matches(ipv6 address: (high: UInt64, low: UInt64)) -> Bool {
            for rule in ipv6 where address.high & rule.maskHigh == rule.high && address.low & rule.maskLow == rule.low {
                return true
            }
            return false
        }
    }

    let allow: Rules
    let deny: Rules

    /// The blocks config parsed at load; nothing here can be malformed.
    public init(allow: [CIDRBlock], deny: [CIDRBlock]) {
        self.allow = Self.rules(allow)
        self.deny = Self.rules(deny)
    }

    /// Whether nothing is filtered, so the accept path can skip the check.
    public var permitsEveryone: Bool { allow.isEmpty && deny.isEmpty }

    /// IPv4-mapped IPv6 clients are IPv4 clients here: they match IPv4 rules, and "::/0"
    /// does not cover them. An address of neither family is refused once any rule exists,
    /// since an ACL that cannot classify a peer must fail closed.
    public func permits(_ address: SocketAddress) -> Bool {
        if let v4 = address.ipv4 {
            if deny.matches(ipv4: v4) { return false }
            return allow.isEmpty || allow.matches(ipv4: v4)
        }
        if let v6 = address.ipv6 {
            if deny.matches(ipv6: v6) { return false }
            return allow.isEmpty || allow.matches(ipv6: v6)
        }
        return permitsEveryone
    }

    private static func rules(_ blocks: [CIDRBlock]) -> Rules {
        var rules = Rules()
        for block in blocks {
            let prefix = block.prefixLength
            if !block.isIPv6 {
                let network = block.network.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                rules.ipv4.append(IPv4Rule(network: network, mask: mask32(prefix)))
                continue
            }
            let high = block.network[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = block.network[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            // Blocks inside ::ffff:0:0/96 describe IPv4 clients; as an IPv4 rule they match
            // those clients whichever listener they reached (`SocketAddress.ipv4` unmaps them).
            if prefix >= 96, high == 0, low >> 32 == 0xFFFF {
                rules.ipv4.append(IPv4Rule(network: UInt32(truncatingIfNeeded: low), mask: mask32(prefix - 96)))
                continue
            }
            rules.ipv6.append(IPv6Rule(high: high, low: low,
                                       maskHigh: mask64(min(prefix, 64)), maskLow: mask64(max(prefix - 64, 0))))
        }
        return rules
    }

    private static func mask32(_ prefix: Int) -> UInt32 {
        prefix == 0 ? 0 : ~(UInt32.max >> UInt32(prefix))
    }

    private static func mask64(_ prefix: Int) -> UInt64 {
        prefix == 0 ? 0 : ~(UInt64.max >> UInt64(prefix))
    }
}
