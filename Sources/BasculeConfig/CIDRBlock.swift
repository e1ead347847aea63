/// An address block from an `allow`/`deny` list ("192.0.2.0/24", "2001:db8::/32"), parsed
/// once at load and handed as is to the proxy's access list.
///
/// A bare address is one host (/32 or /128). With a prefix, host bits must be zero:
/// "10.0.0.1/8" is rejected with a suggestion of "10.0.0.0/8", because a written host
/// address usually means the author expected a narrower match than the prefix gives.
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    /// Network address bytes: 4 for IPv4, 16 for IPv6.
    public let network: [UInt8]
    public let prefixLength: Int

    /// Parses a block as validated by config; nil for anything config would reject.
    public init?(_ text: String) {
        guard case .success(let block) = CIDRBlock.parse(text) else { return nil }
        self = block
    }

    public var isIPv6: Bool { network.count == 16 }

    init(network: [UInt8], prefixLength: Int) {
        self.network = network
        self.prefixLength = prefixLength
    }

    /// Whether `address` (4 or 16 bytes, network order) lies in this block. Addresses of the
    /// other family never match.
    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == network.count else { return false }
        return CIDRBlock.masked(address, prefixLength) == network
    }

    public var description: String { "\(IPAddress(bytes: network))/\(prefixLength)" }

    static func parse(_ text: String) -> Result<CIDRBlock, EndpointParseError> {
        let quoted = quotedForMessage(text)
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            if parts.count == 1, let address = IPAddress(text) {
                return .success(CIDRBlock(network: address.bytes, prefixLength: address.bytes.count * 8))
            }
            return .failure(.init("\(quoted) is not a valid CIDR (write an address or address/prefix, e.g. 192.0.2.0/24)"))
        }
        guard let address = IPAddress(String(parts[0])) else {
            return .failure(.init("\(quoted) is not a valid CIDR (\(quotedForMessage(String(parts[0]))) is not an IP address)"))
        }
        let width = address.isIPv6 ? 128 : 32
        let prefixText = parts[1]
        guard !prefixText.isEmpty,
              prefixText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let prefix = Int(prefixText), (0...width).contains(prefix) else {
            return .failure(.init("\(quoted) is not a valid CIDR (prefix must be 0...\(width))"))
        }
        let network = masked(address.bytes, prefix)
        guard network == address.bytes else {
            let suggestion = "\(IPAddress(bytes: network))/\(prefix)"
            return .failure(.init("\(quoted) is not a valid CIDR (host bits are set; did you mean \(suggestion)?)"))
        }
        return .success(CIDRBlock(network: network, prefixLength: prefix))
    }

    private static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { offset, byte in
            let bitsKept = min(8, max(0, prefix - offset * 8))
            return bitsKept == 0 ? 0 : byte & ~UInt8(0xFF >> bitsKept)
        }
    }
}
