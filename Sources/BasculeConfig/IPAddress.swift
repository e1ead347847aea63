#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address in network byte order. Config compares addresses by value, not
/// by spelling, so `[::1]` and `[0:0::1]` are recognised as the same listen address.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public var isIPv6: Bool { bytes.count == 16 }

    /// 0.0.0.0 or ::, which a listener binds as "every local address".
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        isIPv6 ? bytes == [UInt8](repeating: 0, count: 15) + [1] : bytes[0] == 127
    }

    /// Parses an IPv4 dotted quad or an IPv6 address (without brackets or zone). inet_pton
    /// is strict where it matters: no leading zeros, no shorthand like `127.1`.
    public init?(_ text: String) {
        // inet_pton reads a C string; an embedded NUL would let "1.2.3.4\0junk" pass.
        guard !text.isEmpty, !text.utf8.contains(0), text.utf8.count <= 64 else { return nil }
        let family = text.contains(":") ? AF_INET6 : AF_INET
        var buffer = [UInt8](repeating: 0, count: family == AF_INET6 ? 16 : 4)
        let ok = text.withCString { cString in
            buffer.withUnsafeMutableBytes { inet_pton(family, cString, $0.baseAddress) }
        }
        guard ok == 1 else { return nil }
        bytes = buffer
    }

    /// 4 or 16 bytes in network order.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 4 || bytes.count == 16, "an IP address is 4 or 16 bytes")
        self.bytes = bytes
    }

    /// The canonical spelling (RFC 5952 for IPv6, through inet_ntop).
    public var description: String {
        var text = [CChar](repeating: 0, count: 64)
        let family = isIPv6 ? AF_INET6 : AF_INET
        let written = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count))
        }
        guard written != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
