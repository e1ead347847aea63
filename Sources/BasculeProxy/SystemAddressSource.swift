import BasculeConfig
import CResolv
import Glibc

/// Host names resolved by the system: glibc's stub resolver (`res_nquery`, reading
/// /etc/resolv.conf on every call) for A and AAAA, with the answer's TTL from glibc's own
/// message parser. A name the DNS does not know (NXDOMAIN, or no address records) is asked
/// once more through getaddrinfo, so /etc/hosts entries and search domains work as they do
/// for every other program; such an answer has no TTL.
public struct SystemAddressSource: AddressSource {
    /// Addresses read per record type; a pool larger than this is not what DNS is for.
    static let capacity = 64

    public init() {}

    public func resolve(_ host: HostName) -> Result<NameAnswer, ResolutionFailure> {
        let v4 = query(host, ipv6: false)
        let v6 = query(host, ipv6: true)
        var addresses: [IPAddress] = []
        var ttl: UInt32?
        for answer in [v4, v6] {
            guard case .success(let found) = answer else { continue }
            addresses += found.addresses
            if let seconds = found.ttlSeconds { ttl = min(ttl ?? .max, seconds) }
        }
        // A transient failure of one query says nothing about that family's addresses: they
        // are kept from the last good answer (dropping them on a timeout would drain half the
        // pool for nothing), and without any address found the whole resolution failed.
        var unanswered: NameAnswer.Unanswered?
        for (ipv6, answer) in [(false, v4), (true, v6)] {
            if case .failure(let failure) = answer, failure != .nameNotFound && failure != .noAddresses {
                guard unanswered == nil, !addresses.isEmpty else { return .failure(failure) }
                unanswered = NameAnswer.Unanswered(ipv6: ipv6, failure: failure)
            }
        }
        if !addresses.isEmpty { return .success(NameAnswer(addresses: addresses, ttlSeconds: ttl, unanswered: unanswered)) }
        let fromSystem = Self.getaddrinfo(host)
        if !fromSystem.isEmpty { return .success(NameAnswer(addresses: fromSystem, ttlSeconds: nil)) }
        if case .failure(.nameNotFound) = v4 { return .failure(.nameNotFound) }
        if case .failure(.nameNotFound) = v6 { return .failure(.nameNotFound) }
        return .failure(.noAddresses)
    }

    private func query(_ host: HostName, ipv6: Bool) -> Result<NameAnswer, ResolutionFailure> {
        let size = ipv6 ? 16 : 4
        var buffer = [UInt8](repeating: 0, count: Self.capacity * size)
        var result = cr_result()
        let capacity = Int32(Self.capacity)
        buffer.withUnsafeMutableBufferPointer { out in
            cr_query(host.text, ipv6 ? 1 : 0, out.baseAddress, capacity, &result)
        }
        switch Int(result.outcome) {
        case Int(CR_OK):
            let addresses = (0..<Int(result.count)).map { IPAddress(bytes: Array(buffer[($0 * size)..<($0 * size + size)])) }
            return .success(NameAnswer(addresses: addresses, ttlSeconds: result.ttl))
        case Int(CR_NXDOMAIN): return .failure(.nameNotFound)
        case Int(CR_NODATA): return .failure(.noAddresses)
        case Int(CR_SERVFAIL): return .failure(.serverFailure(rcode: Int(result.rcode)))
        case Int(CR_TIMEOUT): return .failure(.timeout)
        case Int(CR_REFUSED): return .failure(.refused)
        default:
            let reason = result.error_number == 0 ? "unknown" : String(cString: strerror(result.error_number))
            return .failure(.other("the resolver failed (\(reason))"))
        }
    }

    private static func getaddrinfo(_ host: HostName) -> [IPAddress] {
        var buffer = [UInt8](repeating: 0, count: capacity * 17)
        let count = buffer.withUnsafeMutableBufferPointer { cr_getaddrinfo(host.text, $0.baseAddress, Int32(capacity)) }
        var addresses: [IPAddress] = []
        for index in 0..<max(0, Int(count)) {
            let slot = buffer[(index * 17)..<(index * 17 + 17)]
            let address = IPAddress(bytes: Array(slot.dropFirst().prefix(slot.first == 4 ? 4 : 16)))
            if !addresses.contains(address) { addresses.append(address) }
        }
        return addresses
    }
}
