#if canImport(Glibc)
import Glibc
#endif

/// A numeric IPv4 or IPv6 socket address parsed from `HOST:PORT` or `[V6HOST]:PORT`.
///
/// Host names are deliberately not resolved (except `localhost`): a listen address that
/// depends on DNS at start-up is a surprise an operator does not want.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Family: Sendable, Equatable { case ipv4, ipv6 }

    public let family: Family
    /// The host in canonical numeric form (`127.0.0.1`, `::1`).
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) throws(AddressError) {
        let literal = host == "localhost" ? "127.0.0.1" : host
        if let canonical = SocketAddress.canonical(literal, family: AF_INET) {
            self.family = .ipv4
            self.host = canonical
        } else if let canonical = SocketAddress.canonical(literal, family: AF_INET6) {
            self.family = .ipv6
            self.host = canonical
        } else {
            throw AddressError(text: host, reason: "is not a numeric IPv4 or IPv6 address")
        }
        self.port = port
    }

    /// Parses `127.0.0.1:8080`, `[::1]:8080`, `localhost:0`.
    public init(parsing text: String) throws(AddressError) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw AddressError(text: text, reason: "has an unclosed '['")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw AddressError(text: text, reason: "has no port") }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw AddressError(text: text, reason: "has no port")
            }
            hostPart = text[..<colon]
            if hostPart.contains(":") {
                throw AddressError(text: text, reason: "is an IPv6 address without brackets; write [HOST]:PORT")
            }
            portPart = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portPart) else {
            throw AddressError(text: text, reason: "has an invalid port '\(portPart)' (0-65535)")
        }
        try self.init(host: String(hostPart), port: port)
    }

    /// `127.0.0.1:80` or `[::1]:80`, the form the readiness line uses.
    public var description: String {
        family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public func withPort(_ port: UInt16) -> SocketAddress {
        // The host is already canonical, so re-parsing cannot fail.
        (try? SocketAddress(host: host, port: port)) ?? self
    }

    var addressFamily: Int32 { family == .ipv4 ? AF_INET : AF_INET6 }

    /// Calls `body` with this address as a `sockaddr` of the right length.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        switch family {
        case .ipv4:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, host, &sin.sin_addr)
            return try withUnsafePointer(to: &sin) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .ipv6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &sin6.sin6_addr)
            return try withUnsafePointer(to: &sin6) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }

    /// The port the kernel actually bound (for port 0 listeners).
    static func boundPort(of fd: Int32) throws(SocketError) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try syscallRetryingEINTR("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        return withUnsafePointer(to: &storage) { pointer -> UInt16 in
            if Int32(pointer.pointee.ss_family) == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    private static func canonical(_ text: String, family: Int32) -> String? {
        var raw = in6_addr()  // large enough for either family
        guard inet_pton(family, text, &raw) == 1 else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, &raw, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

public struct AddressError: Error, CustomStringConvertible, Sendable {
    public let text: String
    public let reason: String
    public var description: String { "address \"\(text)\" \(reason)" }
}
