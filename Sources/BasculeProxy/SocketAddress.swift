import BasculeConfig
import BasculeEventLoop
import Glibc

/// An IPv4 or IPv6 socket address held by value (no heap), convertible from a validated
/// config `Endpoint` and from what accept() reports.
public struct SocketAddress: Sendable, CustomStringConvertible {
    /// Room for the larger of the two families a TCP balancer meets. sockaddr_storage would
    /// be 128 bytes carried, copied and kept in every connection (its client address, and the
    /// destination a PROXY header named) for the 28 that are ever used.
    public var storage = sockaddr_in6()
    public var length: socklen_t = 0

    /// What accept() and getsockname() may fill.
    static let capacity = socklen_t(MemoryLayout<sockaddr_in6>.size)

    public init() {}

    public init(_ endpoint: Endpoint) throws(SystemError) {
        if endpoint.isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET6, endpoint.host, &address.sin6_addr) == 1 else {
                throw SystemError(errno: EINVAL, call: "inet_pton(\(endpoint.host))")
            }
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: address) { raw.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET, endpoint.host, &address.sin_addr) == 1 else {
                throw SystemError(errno: EINVAL, call: "inet_pton(\(endpoint.host))")
            }
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: address) { raw.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
    }

    public var family: Int32 { Int32(storage.sin6_family) }

    public var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            family == AF_INET6
                ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
                : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    /// The IPv4 address in host byte order, also for IPv4-mapped IPv6 (::ffff:a.b.c.d), so a
    /// client gets the same affinity whether it reached a v4 or a dual-stack listener.
    public var ipv4: UInt32? {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET {
                return UInt32(bigEndian: raw.load(as: sockaddr_in.self).sin_addr.s_addr)
            }
            guard family == AF_INET6 else { return nil }
            let bytes = raw.load(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: bytes) { b in
                for i in 0..<10 where b[i] != 0 { return nil }
                guard b[10] == 0xFF, b[11] == 0xFF else { return nil }
                return UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15])
            }
        }
    }

    /// The IPv6 address as two big-endian halves, nil for IPv4.
    public var ipv6: (high: UInt64, low: UInt64)? {
        guard family == AF_INET6, ipv4 == nil else { return nil }
        return withUnsafeBytes(of: storage) { raw in
            let bytes = raw.load(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: bytes) { b in
                var high: UInt64 = 0, low: UInt64 = 0
                for i in 0..<8 { high = high << 8 | UInt64(b[i]) }
                for i in 8..<16 { low = low << 8 | UInt64(b[i]) }
                return (high, low)
            }
        }
    }

    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        return withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                var address = raw.load(as: sockaddr_in6.self).sin6_addr
                inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
            } else {
                var address = raw.load(as: sockaddr_in.self).sin_addr
                inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
            }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public var description: String {
        family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
