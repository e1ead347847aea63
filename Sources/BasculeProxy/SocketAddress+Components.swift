import Glibc

/// Building and reading socket addresses from their numeric parts, for the PROXY protocol
/// (which carries addresses the kernel never saw) and for access lists.
extension SocketAddress {
    /// An AF_INET address; `address` in host byte order, like `ipv4`.
    init(ipv4 address: UInt32, port: UInt16) {
        self.init()
        var raw = sockaddr_in()
        raw.sin_family = sa_family_t(AF_INET)
        raw.sin_port = port.bigEndian
        raw.sin_addr.s_addr = address.bigEndian
        withUnsafeMutableBytes(of: &storage) { storage in
            withUnsafeBytes(of: raw) { storage.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    /// An AF_INET6 address from its two big-endian halves, like `ipv6`.
    init(ipv6 high: UInt64, _ low: UInt64, port: UInt16) {
        self.init()
        var raw = sockaddr_in6()
        raw.sin6_family = sa_family_t(AF_INET6)
        raw.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &raw.sin6_addr) { bytes in
            bytes.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        withUnsafeMutableBytes(of: &storage) { storage in
            withUnsafeBytes(of: raw) { storage.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    }

    /// All 128 bits of an AF_INET6 address, IPv4-mapped ones included (`ipv6` is nil for
    /// those, so that affinity treats them as IPv4; a PROXY TCP6 line must carry them as is).
    var rawIPv6: (high: UInt64, low: UInt64)? {
        guard family == AF_INET6 else { return nil }
        return withUnsafeBytes(of: storage) { raw in
            let address = raw.load(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: address) { bytes in
                (UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                 UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
        }
    }
}
