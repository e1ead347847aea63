import BasculePosix

/// Feeds arbitrary bytes to the PROXY parser. ASan catches any read outside the input (the
/// parser works on unchecked raw pointers); the checks below catch wrong answers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProxyParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let result = ProxyProtocolParser.parse(bytes)

    // Incremental: the answer for one byte less must be consistent with this one.
    if size > 0 {
        let shorter = ProxyProtocolParser.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<size - 1]))
        switch (shorter, result) {
        case (.invalid, .invalid), (.needMoreData, _): break
        case (.complete(_, let a), .complete(_, let b)) where a == b: break
        default: fatalError("answer changed when one more byte arrived")
        }
    }

    guard case .complete(let header, let consumed) = result else { return 0 }
    precondition(consumed > 0 && consumed <= size, "consumed out of range")
    // Every proper prefix of a complete header is only a wait, never a verdict.
    for length in 0..<consumed {
        guard case .needMoreData = ProxyProtocolParser.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<length])) else {
            fatalError("a prefix of a valid header was not needMoreData")
        }
    }
    precondition((header.source == nil) == (header.destination == nil), "half an address pair")
    if let source = header.source, let destination = header.destination {
        roundTrip(source, destination)
    }
    return 0
}

/// What we parsed, we can send, and it reads back the same.
private func roundTrip(_ source: SocketAddress, _ destination: SocketAddress) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 8)
    defer { buffer.deallocate() }
    for encode in [ProxyProtocolEncoder.v1, ProxyProtocolEncoder.v2] {
        let written = encode(source, destination, buffer)
        guard case .complete(let again, let consumed) = ProxyProtocolParser.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<written])),
              consumed == written else {
            fatalError("an encoded header did not parse back")
        }
        guard let s = again.source, let d = again.destination else {
            precondition(source.family != destination.family, "addresses lost in a round trip")
            continue
        }
        precondition(s.port == source.port && d.port == destination.port, "ports changed in a round trip")
        precondition(s.ipv4 == source.ipv4 && d.ipv4 == destination.ipv4, "IPv4 changed in a round trip")
        precondition(s.ipv6?.high == source.ipv6?.high && s.ipv6?.low == source.ipv6?.low, "IPv6 changed")
        precondition(d.ipv6?.high == destination.ipv6?.high && d.ipv6?.low == destination.ipv6?.low, "IPv6 changed")
    }
}
