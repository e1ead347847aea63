import Glibc

/// The one IPv4 or IPv6 socket address of the program, held by value (no heap). Built from
/// bytes something else already parsed (config's `IPAddress`, a PROXY header, what accept()
/// reports) and lent to the kernel through `withSockAddr`: address text is never parsed here.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    /// Room for the larger of the two families a TCP balancer meets. sockaddr_storage would
    /// be 128 bytes carried, copied and kept in every connection (its client address, and the
    /// destination a PROXY header named) for the 28 that are ever used.
    public var storage = sockaddr_in6()
    public var length: socklen_t = 0

    /// What accept() and getsockname() may fill.
    public static let capacity = socklen_t(MemoryLayout<sockaddr_in6>.size)

    /// An empty address (family 0), for accept() and getsockname() to fill.
    public init() {}

    /// From an address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public init(bytes: some Collection<UInt8>, port: UInt16) {
        precondition(bytes.count == 4 || bytes.count == 16, "an IP address is 4 or 16 bytes, got \(bytes.count)")
        self.init()
        if bytes.count == 4 {
            var raw = sockaddr_in()
            raw.sin_family = sa_family_t(AF_INET)
            raw.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &raw.sin_addr) { $0.copyBytes(from: bytes) }
            store(raw)
        } else {
            var raw = sockaddr_in6()
            raw.sin6_family = sa_family_t(AF_INET6)
            raw.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &raw.sin6_addr) { $0.copyBytes(from: bytes) }
            store(raw)
        }
    }

    /// An AF_INET address; `address` in host byte order, like `ipv4`.
    public init(ipv4 address: UInt32, port: UInt16) {
        self.init()
        var raw = sockaddr_in()
        raw.sin_family = sa_family_t(AF_INET)
        raw.sin_port = port.bigEndian
        raw.sin_addr.s_addr = address.bigEndian
        store(raw)
    }

    /// An AF_INET6 address from its two big-endian halves, like `ipv6`.
    public init(ipv6 high: UInt64, _ low: UInt64, port: UInt16) {
        self.init()
        var raw = sockaddr_in6()
        raw.sin6_family = sa_family_t(AF_INET6)
        raw.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &raw.sin6_addr) { bytes in
            bytes.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        store(raw)
    }

    private mutating func store<Raw>(_ raw: Raw) {
        withUnsafeMutableBytes(of: &storage) { storage in
            withUnsafeBytes(of: raw) { storage.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<Raw>.size)
    }

    /// Lends the address to a C call as a `sockaddr` of the right length.
    @inlinable
    public func withSockAddr<R, E: Error>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R) throws(E) -> R {
        var storage = storage
        return try withUnsafePointer(to: &storage) { (pointer) throws(E) -> R in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(E) -> R in
                try body(address, length)
            }
        }
    }

    /// Lets the kernel fill the address (accept, getsockname); `length` is set to what it wrote.
    @inlinable
    public mutating func fill<R>(_ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> R) -> R {
        length = Self.capacity
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, &length) }
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

    /// The same host on another port (a listener bound to port 0, a backend's admin port).
    public func withPort(_ port: UInt16) -> SocketAddress {
        var copy = self
        copy.storage.sin6_port = port.bigEndian  // sin_port sits at the same offset
        return copy
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

    /// The IPv6 address as two big-endian halves, nil for IPv4 (mapped ones included).
    public var ipv6: (high: UInt64, low: UInt64)? {
        guard ipv4 == nil else { return nil }
        return rawIPv6
    }

    /// All 128 bits of an AF_INET6 address, IPv4-mapped ones included (`ipv6` is nil for
    /// those, so that affinity treats them as IPv4; a PROXY TCP6 line must carry them as is).
    public var rawIPv6: (high: UInt64, low: UInt64)? {
        guard family == AF_INET6 else { return nil }
        return withUnsafeBytes(of: storage.sin6_addr) { bytes in
            (UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
             UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    /// 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address.
    public var isLoopback: Bool {
        if let v4 = ipv4 { return v4 >> 24 == 127 }
        if let v6 = ipv6 { return v6.high == 0 && v6.low == 1 }
        return false
    }

    /// The numeric host in inet_ntop's form ("192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1").
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

    /// Equal when family, address and port are: the bytes past `length` and IPv6 flow/scope
    /// fields the kernel may fill do not count.
    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        guard lhs.family == rhs.family, lhs.port == rhs.port else { return false }
        switch lhs.family {
        case AF_INET: return lhs.ipv4 == rhs.ipv4
        case AF_INET6: return lhs.rawIPv6! == rhs.rawIPv6!
        default: return true
        }
    }
}
