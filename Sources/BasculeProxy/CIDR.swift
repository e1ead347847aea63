/// An address block as written in `allow`/`deny` ("192.0.2.0/24", "2001:db8::/32"; a bare
/// address is a /32 or /128), with its mask precomputed so matching is a mask and a compare.
struct CIDR: Sendable, Equatable {
    enum Network: Sendable, Equatable {
        case ipv4(address: UInt32, mask: UInt32)
        case ipv6(high: UInt64, low: UInt64, maskHigh: UInt64, maskLow: UInt64)
    }

    let network: Network
    let prefixLength: Int

    init(network: Network, prefixLength: Int) {
        self.network = network
        self.prefixLength = prefixLength
    }

    /// Why a rule was refused, phrased to follow the quoted entry in an error message.
    struct ParseError: Error, Equatable {
        let reason: String
    }

    /// Strict: no spaces, no zone (%eth0), no leading zeros in the prefix length, and no
    /// host bits beyond the prefix: "10.0.0.1/8" is more likely a typo for /32 than a wish
    /// for 10.0.0.0/8, and an ACL is the wrong place to guess.
    init(parsing text: String) throws(ParseError) {
        var text = text
        let parsed: Result<CIDR, ParseError> = text.withUTF8 { utf8 in
            CIDR.parse(UnsafeRawBufferPointer(utf8))
        }
        self = try parsed.get()
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<CIDR, ParseError> {
        guard !bytes.isEmpty else { return .failure(ParseError(reason: "is empty")) }
        var slash = bytes.count
        for index in 0..<bytes.count where bytes[index] == UInt8(ascii: "/") {
            slash = index
            break
        }
        var isIPv6 = false
        for index in 0..<slash where bytes[index] == UInt8(ascii: ":") { isIPv6 = true }
        let maximumPrefix = isIPv6 ? 128 : 32
        var prefix = maximumPrefix
        if slash < bytes.count {
            let digits = bytes.count - slash - 1
            guard digits >= 1, digits <= 3, digits == 1 || bytes[slash + 1] != UInt8(ascii: "0") else {
                return .failure(ParseError(reason: "has a malformed prefix length"))
            }
            prefix = 0
            for index in slash + 1..<bytes.count {
                guard let digit = IPAddressText.decimalDigit(bytes[index]) else {
                    return .failure(ParseError(reason: "has a malformed prefix length"))
                }
                prefix = prefix * 10 + Int(digit)
            }
            guard prefix <= maximumPrefix else {
                return .failure(ParseError(reason: isIPv6 ? "has a prefix length over 128" : "has a prefix length over 32"))
            }
        }
        if isIPv6 {
            guard let address = IPAddressText.parseIPv6(bytes, from: 0, to: slash) else {
                return .failure(ParseError(reason: "is not an IPv6 address or network"))
            }
            let maskHigh: UInt64 = prefix == 0 ? 0 : prefix >= 64 ? .max : ~(UInt64.max >> UInt64(prefix))
            let maskLow: UInt64 = prefix <= 64 ? 0 : prefix == 128 ? .max : ~(UInt64.max >> UInt64(prefix - 64))
            guard address.high & ~maskHigh == 0, address.low & ~maskLow == 0 else {
                return .failure(ParseError(reason: "has host bits set beyond its prefix length"))
            }
            return .success(CIDR(network: .ipv6(high: address.high, low: address.low, maskHigh: maskHigh, maskLow: maskLow),
                                 prefixLength: prefix))
        }
        guard let address = IPAddressText.parseIPv4(bytes, from: 0, to: slash) else {
            return .failure(ParseError(reason: "is not an IPv4 address or network"))
        }
        let mask: UInt32 = prefix == 0 ? 0 : ~(UInt32.max >> UInt32(prefix))
        guard address & ~mask == 0 else {
            return .failure(ParseError(reason: "has host bits set beyond its prefix length"))
        }
        return .success(CIDR(network: .ipv4(address: address, mask: mask), prefixLength: prefix))
    }

    /// IPv6 rules inside ::ffff:0:0/96 describe IPv4 clients; as an IPv4 rule they match those
    /// clients whichever listener they reached (`SocketAddress.ipv4` unmaps them too).
    var normalized: CIDR {
        guard case .ipv6(let high, let low, _, let maskLow) = network, prefixLength >= 96,
              high == 0, low >> 32 == 0xFFFF else { return self }
        return CIDR(network: .ipv4(address: UInt32(truncatingIfNeeded: low), mask: UInt32(truncatingIfNeeded: maskLow)),
                    prefixLength: prefixLength - 96)
    }
}
