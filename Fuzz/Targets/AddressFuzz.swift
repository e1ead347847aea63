import Glibc

/// Differential: the hand-written address parsers must agree with glibc's inet_pton on every
/// input, and what the writers print must parse back (by both) to the same address.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddress(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard size > 0, size < 64, !bytes.contains(0) else { return 0 }
    var text = [CChar](repeating: 0, count: size + 1)
    for i in 0..<size { text[i] = CChar(bitPattern: bytes[i]) }

    var v4 = in_addr()
    let libcV4 = inet_pton(AF_INET, text, &v4) == 1
    let ourV4 = IPAddressText.parseIPv4(bytes, from: 0, to: size)
    precondition(libcV4 == (ourV4 != nil), "IPv4 acceptance differs from inet_pton")
    if let ourV4 {
        precondition(ourV4 == UInt32(bigEndian: v4.s_addr), "IPv4 value differs from inet_pton")
        check(ipv4: ourV4)
    }

    var v6 = in6_addr()
    let libcV6 = inet_pton(AF_INET6, text, &v6) == 1
    let ourV6 = IPAddressText.parseIPv6(bytes, from: 0, to: size)
    precondition(libcV6 == (ourV6 != nil), "IPv6 acceptance differs from inet_pton")
    if let ourV6 {
        let (high, low) = withUnsafeBytes(of: v6) {
            (UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
        precondition(ourV6.high == high && ourV6.low == low, "IPv6 value differs from inet_pton")
        check(ipv6: ourV6)
    }
    return 0
}

private func check(ipv4: UInt32) {
    withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { buffer in
        let end = IPAddressText.writeIPv4(ipv4, into: buffer, at: 0)
        precondition(IPAddressText.parseIPv4(UnsafeRawBufferPointer(buffer), from: 0, to: end) == ipv4, "IPv4 text does not round-trip")
    }
}

private func check(ipv6: (high: UInt64, low: UInt64)) {
    withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { buffer in
        let end = IPAddressText.writeIPv6(high: ipv6.high, low: ipv6.low, into: buffer, at: 0)
        precondition(end <= IPAddressText.maximumIPv6Length, "IPv6 text too long")
        let again = IPAddressText.parseIPv6(UnsafeRawBufferPointer(buffer), from: 0, to: end)
        precondition(again?.high == ipv6.high && again?.low == ipv6.low, "IPv6 text does not round-trip")
        // And it is what glibc prints, apart from the deprecated IPv4-compatible ::a.b.c.d form.
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) {
            $0.storeBytes(of: ipv6.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            $0.storeBytes(of: ipv6.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        var printed = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address, &printed, socklen_t(printed.count))
        let glibc = printed.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let compatible = ipv6.high == 0 && ipv6.low >> 32 == 0 && ipv6.low > 0xFFFF
        precondition(compatible || glibc.elementsEqual(UnsafeRawBufferPointer(rebasing: buffer[0..<end])), "IPv6 text differs from inet_ntop")
    }
}
