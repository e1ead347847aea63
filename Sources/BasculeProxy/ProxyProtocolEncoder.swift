import BasculePosix
import Glibc

/// Writes the PROXY protocol header Bascule sends to a backend ahead of the client's bytes.
/// Both forms are written into a caller's buffer so that the relay sends them without
/// allocating; each fits in one segment, so it is sent at once as the spec requires.
public enum ProxyProtocolEncoder {
    /// Room a v1 line can need: "PROXY TCP6 " + two 39-character addresses + ports + CRLF
    /// is 104; 107 is the spec's worst case and what receivers buffer.
    public static let maximumV1Length = 107
    /// A v2 header for TCP over IPv6, the largest one Bascule sends (no TLVs).
    public static let maximumV2Length = 16 + 36

    static let v2Signature: (UInt64, UInt32) = (0x0D0A_0D0A_000D_0A51, 0x5549_540A)

    /// Writes "PROXY TCP4 ...", "PROXY TCP6 ..." or, when the two addresses cannot share one
    /// family, "PROXY UNKNOWN"; returns the bytes written. IPv4-mapped IPv6 addresses are sent
    /// as IPv4 when both ends are IPv4, so a dual-stack listener still produces TCP4 lines.
    /// `buffer` must hold `maximumV1Length` bytes.
    public static func v1(source: SocketAddress, destination: SocketAddress,
                          into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= maximumV1Length, "PROXY v1 needs \(maximumV1Length) bytes")
        var cursor = write("PROXY ", into: buffer, at: 0)
        if let sourceV4 = source.ipv4, let destinationV4 = destination.ipv4 {
            cursor = write("TCP4 ", into: buffer, at: cursor)
            cursor = IPAddressText.writeIPv4(sourceV4, into: buffer, at: cursor)
            cursor = write(" ", into: buffer, at: cursor)
            cursor = IPAddressText.writeIPv4(destinationV4, into: buffer, at: cursor)
        } else if let sourceV6 = source.rawIPv6, let destinationV6 = destination.rawIPv6 {
            cursor = write("TCP6 ", into: buffer, at: cursor)
            cursor = IPAddressText.writeIPv6(high: sourceV6.high, low: sourceV6.low, into: buffer, at: cursor)
            cursor = write(" ", into: buffer, at: cursor)
            cursor = IPAddressText.writeIPv6(high: destinationV6.high, low: destinationV6.low, into: buffer, at: cursor)
        } else {
            return write("UNKNOWN\r\n", into: buffer, at: cursor)
        }
        cursor = write(" ", into: buffer, at: cursor)
        cursor = IPAddressText.writeDecimal(source.port, into: buffer, at: cursor)
        cursor = write(" ", into: buffer, at: cursor)
        cursor = IPAddressText.writeDecimal(destination.port, into: buffer, at: cursor)
        return write("\r\n", into: buffer, at: cursor)
    }

    /// Writes a binary PROXY-command header for TCP over IPv4 or IPv6; returns the bytes
    /// written. Unlike v1, mixed families lose nothing: the IPv4 side is sent IPv4-mapped in an
    /// AF_INET6 block. Non-IP addresses produce an AF_UNSPEC header with no address block,
    /// which tells the receiver to use the real endpoints. `buffer` must hold
    /// `maximumV2Length` bytes.
    public static func v2(source: SocketAddress, destination: SocketAddress,
                          into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= maximumV2Length, "PROXY v2 needs \(maximumV2Length) bytes")
        if let sourceV4 = source.ipv4, let destinationV4 = destination.ipv4 {
            writeV2Preamble(command: 0x1, family: 0x11, length: 12, into: buffer)
            buffer.storeBytes(of: sourceV4.bigEndian, toByteOffset: 16, as: UInt32.self)
            buffer.storeBytes(of: destinationV4.bigEndian, toByteOffset: 20, as: UInt32.self)
            buffer.storeBytes(of: source.port.bigEndian, toByteOffset: 24, as: UInt16.self)
            buffer.storeBytes(of: destination.port.bigEndian, toByteOffset: 26, as: UInt16.self)
            return 28
        }
        guard let sourceV6 = mappedIfNeeded(source), let destinationV6 = mappedIfNeeded(destination) else {
            writeV2Preamble(command: 0x1, family: 0x00, length: 0, into: buffer)
            return 16
        }
        writeV2Preamble(command: 0x1, family: 0x21, length: 36, into: buffer)
        buffer.storeBytes(of: sourceV6.high.bigEndian, toByteOffset: 16, as: UInt64.self)
        buffer.storeBytes(of: sourceV6.low.bigEndian, toByteOffset: 24, as: UInt64.self)
        buffer.storeBytes(of: destinationV6.high.bigEndian, toByteOffset: 32, as: UInt64.self)
        buffer.storeBytes(of: destinationV6.low.bigEndian, toByteOffset: 40, as: UInt64.self)
        buffer.storeBytes(of: source.port.bigEndian, toByteOffset: 48, as: UInt16.self)
        buffer.storeBytes(of: destination.port.bigEndian, toByteOffset: 50, as: UInt16.self)
        return 52
    }

    /// Writes "PROXY UNKNOWN\r\n", the v1 form for a connection that relays no client (a
    /// health check); returns the bytes written.
    public static func v1Unknown(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= 15, "PROXY UNKNOWN needs 15 bytes")
        return write("PROXY UNKNOWN\r\n", into: buffer, at: 0)
    }

    /// Writes a v2 LOCAL header: what a health check opened by Bascule itself should send to
    /// a backend that requires the PROXY protocol. Returns 16.
    public static func v2Local(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= 16, "a PROXY v2 LOCAL header needs 16 bytes")
        writeV2Preamble(command: 0x0, family: 0x00, length: 0, into: buffer)
        return 16
    }

    private static func mappedIfNeeded(_ address: SocketAddress) -> (high: UInt64, low: UInt64)? {
        if let v6 = address.rawIPv6 { return v6 }
        guard let v4 = address.ipv4 else { return nil }
        return (0, 0xFFFF_0000_0000 | UInt64(v4))
    }

    private static func writeV2Preamble(command: UInt8, family: UInt8, length: UInt16,
                                        into buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: v2Signature.0.bigEndian, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: v2Signature.1.bigEndian, toByteOffset: 8, as: UInt32.self)
        buffer[12] = 0x20 | command
        buffer[13] = family
        buffer.storeBytes(of: length.bigEndian, toByteOffset: 14, as: UInt16.self)
    }

    private static func write(_ text: StaticString, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        let count = text.utf8CodeUnitCount
        UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + count])
            .copyMemory(from: UnsafeRawBufferPointer(start: text.utf8Start, count: count))
        return offset + count
    }
}
