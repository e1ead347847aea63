import BasculePosix

/// Reads the PROXY protocol header (v1 or v2) an upstream balancer puts before a client's
/// bytes. Incremental: call it again with everything received so far until it answers
/// `.complete` or `.invalid`; it keeps no state between calls. Strict: anything that is not
/// exactly a header is refused, as soon as the bytes seen so far prove it, because a
/// receiver that guesses lets anyone spoof a client address.
///
/// Never reads outside `bytes` and never traps, whatever the input (fuzzed: Fuzz/run.sh
/// proxy-parser). Reasons are string literals, so no call allocates.
public enum ProxyProtocolParser {
    public enum ParseResult: Sendable {
        /// Every byte so far is a valid beginning of a header; wait for more.
        case needMoreData
        /// Not a PROXY protocol header: close the connection without forwarding anything.
        case invalid(reason: String)
        /// The first `consumed` bytes were the header; anything after them is client data.
        case complete(header: ProxyHeader, consumed: Int)
    }

    /// The spec's longest v1 line, CRLF included.
    public static let maximumV1Length = 107
    /// The longest v2 header the 16-bit length field can announce.
    public static let maximumV2Length = 16 + Int(UInt16.max)

    /// - Parameter limit: the most header bytes the caller is willing to buffer; a v2
    ///   header announcing more (large TLVs) is refused at once instead of waiting for it.
    public static func parse(_ bytes: UnsafeRawBufferPointer, limit: Int = maximumV2Length) -> ParseResult {
        guard let first = bytes.first else { return .needMoreData }
        switch first {
        case UInt8(ascii: "P"): return parseV1(bytes)
        case 0x0D: return parseV2(bytes, limit: limit)
        default: return .invalid(reason: "not a PROXY protocol header")
        }
    }

    // MARK: - Version 1

    private static func parseV1(_ bytes: UnsafeRawBufferPointer) -> ParseResult {
        let window = min(bytes.count, maximumV1Length)
        var lineEnd = -1
        for index in 0..<window {
            let byte = bytes[index]
            if byte == 0x0D {
                lineEnd = index
                break
            }
            if byte == 0x0A { return .invalid(reason: "PROXY v1 line ends in LF without CR") }
        }
        guard lineEnd >= 0 else {
            if bytes.count >= maximumV1Length { return .invalid(reason: "PROXY v1 line longer than 107 bytes") }
            return checkV1Prefix(bytes, count: bytes.count)
        }
        guard lineEnd + 1 < maximumV1Length else { return .invalid(reason: "PROXY v1 line longer than 107 bytes") }
        if case .invalid(let reason) = checkV1Prefix(bytes, count: lineEnd) { return .invalid(reason: reason) }
        guard lineEnd + 1 < bytes.count else { return .needMoreData }
        guard bytes[lineEnd + 1] == 0x0A else { return .invalid(reason: "PROXY v1 line ends in CR without LF") }
        return parseV1Line(bytes, end: lineEnd)
    }

    private static let v1Preamble: StaticString = "PROXY "
    private static let tcp4: StaticString = "TCP4 "
    private static let tcp6: StaticString = "TCP6 "
    private static let unknown: StaticString = "UNKNOWN"

    /// Rejects early what can never become a valid line, so a peer sending garbage slowly is
    /// dropped at the first wrong byte rather than at the header timeout.
    private static func checkV1Prefix(_ bytes: UnsafeRawBufferPointer, count: Int) -> ParseResult {
        guard matchesPrefix(bytes, from: 0, count: count, of: v1Preamble) else {
            return .invalid(reason: "not a PROXY protocol header")
        }
        let tokenStart = v1Preamble.utf8CodeUnitCount
        guard count > tokenStart else { return .needMoreData }
        if matchesPrefix(bytes, from: tokenStart, count: count, of: tcp4) {
            return checkCharacters(bytes, from: tokenStart + tcp4.utf8CodeUnitCount, to: count, hex: false)
        }
        if matchesPrefix(bytes, from: tokenStart, count: count, of: tcp6) {
            return checkCharacters(bytes, from: tokenStart + tcp6.utf8CodeUnitCount, to: count, hex: true)
        }
        if matchesPrefix(bytes, from: tokenStart, count: count, of: unknown) {
            let restStart = tokenStart + unknown.utf8CodeUnitCount
            guard count > restStart else { return .needMoreData }
            guard bytes[restStart] == UInt8(ascii: " ") else { return .invalid(reason: "PROXY v1 unknown protocol") }
            for index in restStart..<count where !isPrintableASCII(bytes[index]) {
                return .invalid(reason: "PROXY v1 line is not printable ASCII")
            }
            return .needMoreData
        }
        return .invalid(reason: "PROXY v1 unknown protocol")
    }

    private static func checkCharacters(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, hex: Bool) -> ParseResult {
        guard start < end else { return .needMoreData }
        for index in start..<end {
            let byte = bytes[index]
            let allowed = byte == UInt8(ascii: " ") || byte == UInt8(ascii: ".")
                || IPAddressText.decimalDigit(byte) != nil
                || (hex && (byte == UInt8(ascii: ":") || IPAddressText.hexDigit(byte) != nil))
            guard allowed else { return .invalid(reason: "PROXY v1 unexpected character in addresses") }
        }
        return .needMoreData
    }

    /// The whole line `bytes[0..<end]` (CR at `end`) has arrived and its prefix is known good.
    private static func parseV1Line(_ bytes: UnsafeRawBufferPointer, end: Int) -> ParseResult {
        let tokenStart = v1Preamble.utf8CodeUnitCount
        let consumed = end + 2
        let unknownEnd = tokenStart + unknown.utf8CodeUnitCount
        if end >= unknownEnd, matchesPrefix(bytes, from: tokenStart, count: unknownEnd, of: unknown) {
            // The spec tells receivers to ignore whatever follows UNKNOWN.
            let header = ProxyHeader(version: .v1, command: .proxy, family: .unspecified, transport: .unspecified,
                                     source: nil, destination: nil)
            return .complete(header: header, consumed: consumed)
        }
        let fieldsStart = tokenStart + tcp4.utf8CodeUnitCount
        guard end > fieldsStart,
              matchesPrefix(bytes, from: tokenStart, count: fieldsStart, of: tcp4)
                || matchesPrefix(bytes, from: tokenStart, count: fieldsStart, of: tcp6) else {
            return .invalid(reason: "PROXY v1 line truncated")
        }
        let isIPv6 = bytes[tokenStart + 3] == UInt8(ascii: "6")
        var cursor = fieldsStart
        guard let sourceEnd = nextSpace(bytes, from: cursor, end: end) else { return .invalid(reason: "PROXY v1 missing fields") }
        let sourceStart = cursor
        cursor = sourceEnd + 1
        guard let destinationEnd = nextSpace(bytes, from: cursor, end: end) else { return .invalid(reason: "PROXY v1 missing fields") }
        let destinationStart = cursor
        cursor = destinationEnd + 1
        guard let sourcePortEnd = nextSpace(bytes, from: cursor, end: end) else { return .invalid(reason: "PROXY v1 missing fields") }
        guard let sourcePort = parsePort(bytes, from: cursor, to: sourcePortEnd) else { return .invalid(reason: "PROXY v1 bad source port") }
        cursor = sourcePortEnd + 1
        guard nextSpace(bytes, from: cursor, end: end) == nil else { return .invalid(reason: "PROXY v1 too many fields") }
        guard let destinationPort = parsePort(bytes, from: cursor, to: end) else { return .invalid(reason: "PROXY v1 bad destination port") }

        let source: SocketAddress
        let destination: SocketAddress
        if isIPv6 {
            guard let s = IPAddressText.parseIPv6(bytes, from: sourceStart, to: sourceEnd) else {
                return .invalid(reason: "PROXY v1 bad IPv6 source address")
            }
            guard let d = IPAddressText.parseIPv6(bytes, from: destinationStart, to: destinationEnd) else {
                return .invalid(reason: "PROXY v1 bad IPv6 destination address")
            }
            source = SocketAddress(ipv6: s.high, s.low, port: sourcePort)
            destination = SocketAddress(ipv6: d.high, d.low, port: destinationPort)
        } else {
            guard let s = IPAddressText.parseIPv4(bytes, from: sourceStart, to: sourceEnd) else {
                return .invalid(reason: "PROXY v1 bad IPv4 source address")
            }
            guard let d = IPAddressText.parseIPv4(bytes, from: destinationStart, to: destinationEnd) else {
                return .invalid(reason: "PROXY v1 bad IPv4 destination address")
            }
            source = SocketAddress(ipv4: s, port: sourcePort)
            destination = SocketAddress(ipv4: d, port: destinationPort)
        }
        let header = ProxyHeader(version: .v1, command: .proxy, family: isIPv6 ? .inet6 : .inet, transport: .stream,
                                 source: source, destination: destination)
        return .complete(header: header, consumed: consumed)
    }

    private static func nextSpace(_ bytes: UnsafeRawBufferPointer, from start: Int, end: Int) -> Int? {
        var index = start
        while index < end {
            if bytes[index] == UInt8(ascii: " ") { return index }
            index += 1
        }
        return nil
    }

    private static func parsePort(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> UInt16? {
        let digits = end - start
        guard digits >= 1, digits <= 5 else { return nil }
        guard digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        var value: UInt32 = 0
        for index in start..<end {
            guard let digit = IPAddressText.decimalDigit(bytes[index]) else { return nil }
            value = value * 10 + UInt32(digit)
        }
        return value <= UInt32(UInt16.max) ? UInt16(value) : nil
    }

    private static func isPrintableASCII(_ byte: UInt8) -> Bool { byte >= 0x20 && byte < 0x7F }

    /// Whether `bytes[from..<count]` agrees with `text` over the bytes both have.
    private static func matchesPrefix(_ bytes: UnsafeRawBufferPointer, from start: Int, count: Int,
                                      of text: StaticString) -> Bool {
        let length = min(text.utf8CodeUnitCount, count - start)
        guard length > 0 else { return true }
        for offset in 0..<length where bytes[start + offset] != text.utf8Start[offset] { return false }
        return true
    }

    // MARK: - Version 2

    private static let v2Signature: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A)

    /// The whole length a v2 header declares (16 + its length field), once its first 16
    /// bytes are in; nil for anything that is not (yet) a v2 header.
    public static func declaredV2Length(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 16 else { return nil }
        let matches = withUnsafeBytes(of: v2Signature) { signature in
            (0..<12).allSatisfy { bytes[$0] == signature[$0] }
        }
        return matches ? 16 + (Int(bytes[14]) << 8 | Int(bytes[15])) : nil
    }

    private static func parseV2(_ bytes: UnsafeRawBufferPointer, limit: Int) -> ParseResult {
        let signatureLength = min(bytes.count, 12)
        let matches = withUnsafeBytes(of: v2Signature) { signature in
            for index in 0..<signatureLength where bytes[index] != signature[index] { return false }
            return true
        }
        guard matches else { return .invalid(reason: "not a PROXY protocol header") }
        guard bytes.count > 12 else { return .needMoreData }

        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 2 else { return .invalid(reason: "PROXY v2 unsupported version") }
        let command: ProxyHeader.Command
        switch versionCommand & 0x0F {
        case 0x0: command = .local
        case 0x1: command = .proxy
        default: return .invalid(reason: "PROXY v2 unknown command")
        }
        guard bytes.count > 13 else { return .needMoreData }

        let familyByte = bytes[13]
        let family: ProxyHeader.AddressFamily
        switch familyByte >> 4 {
        case 0x0: family = .unspecified
        case 0x1: family = .inet
        case 0x2: family = .inet6
        case 0x3: family = .unix
        default: return .invalid(reason: "PROXY v2 unknown address family")
        }
        let transport: ProxyHeader.Transport
        switch familyByte & 0x0F {
        case 0x0: transport = .unspecified
        case 0x1: transport = .stream
        case 0x2: transport = .datagram
        default: return .invalid(reason: "PROXY v2 unknown transport")
        }
        guard bytes.count >= 16 else { return .needMoreData }

        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        let total = 16 + length
        guard total <= limit else { return .invalid(reason: "PROXY v2 header longer than allowed") }
        // The block layout is known only for a real family and transport; LOCAL headers are
        // skipped whole, as the spec tells receivers to ignore their family.
        let addressLength: Int
        switch (command, family, transport) {
        case (.local, _, _), (_, _, .unspecified), (_, .unspecified, _): addressLength = 0
        case (_, .inet, _): addressLength = 12
        case (_, .inet6, _): addressLength = 36
        case (_, .unix, _): addressLength = 216
        }
        guard length >= addressLength else { return .invalid(reason: "PROXY v2 address block too short") }
        guard bytes.count >= total else { return .needMoreData }

        if command == .proxy, transport != .unspecified, family != .unspecified {
            // Skipped, but a TLV running past the header means a corrupt (or smuggling) sender.
            var cursor = 16 + addressLength
            while cursor < total {
                guard total - cursor >= 3 else { return .invalid(reason: "PROXY v2 truncated TLV") }
                let valueLength = Int(bytes[cursor + 1]) << 8 | Int(bytes[cursor + 2])
                cursor += 3 + valueLength
                guard cursor <= total else { return .invalid(reason: "PROXY v2 TLV overruns the header") }
            }
        }

        var source: SocketAddress? = nil
        var destination: SocketAddress? = nil
        if command == .proxy, transport == .stream {
            if family == .inet {
                source = SocketAddress(ipv4: loadUInt32(bytes, 16), port: loadUInt16(bytes, 24))
                destination = SocketAddress(ipv4: loadUInt32(bytes, 20), port: loadUInt16(bytes, 26))
            } else if family == .inet6 {
                source = SocketAddress(ipv6: loadUInt64(bytes, 16), loadUInt64(bytes, 24), port: loadUInt16(bytes, 48))
                destination = SocketAddress(ipv6: loadUInt64(bytes, 32), loadUInt64(bytes, 40), port: loadUInt16(bytes, 50))
            }
        }
        let header = ProxyHeader(version: .v2, command: command, family: family, transport: transport,
                                 source: source, destination: destination)
        return .complete(header: header, consumed: total)
    }

    private static func loadUInt16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    private static func loadUInt32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    private static func loadUInt64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
