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

    /// Throws on the first malformed entry, naming it (see `AccessListError`).
    public init(allow: [String], deny: [String]) throws(AccessListError) {
        self.allow = try Self.rules(allow, list: "allow")
        self.deny = try Self.rules(deny, list: "deny")
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

    private static func rules(_ entries: [String], list: String) throws(AccessListError) -> Rules {
        var rules = Rules()
        for (index, entry) in entries.enumerated() {
            let cidr: CIDR
            do {
                cidr = try CIDR(parsing: entry).normalized
            } catch {
                throw AccessListError(list: list, index: index, entry: entry, reason: error.reason)
            }
            switch cidr.network {
            case .ipv4(let address, let mask):
                rules.ipv4.append(IPv4Rule(network: address, mask: mask))
            case .ipv6(let high, let low, let maskHigh, let maskLow):
                rules.ipv6.append(IPv6Rule(high: high, low: low, maskHigh: maskHigh, maskLow: maskLow))
            }
        }
        return rules
    }
}

/// A malformed `allow`/`deny` entry. Its description reads like the config checker's other
/// errors, `deny[2]: "10.0.0.0/33" has a prefix length over 32`, so the caller only
/// prefixes the service's path.
public struct AccessListError: Error, Equatable, CustomStringConvertible {
    /// "allow" or "deny".
    public let list: String
    public let index: Int
    public let entry: String
    public let reason: String

    public var description: String { "\(list)[\(index)]: \"\(entry)\" \(reason)" }
}
