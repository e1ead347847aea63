import BasculeConfig
@testable import BasculeProxy
import BasculePosix
import Testing

private func address(_ host: String, _ port: UInt16) -> SocketAddress {
    // Test literals are valid by construction.
    SocketAddress(Endpoint(host: host, port: port))
}

private func parse(_ bytes: [UInt8], limit: Int = ProxyProtocolParser.maximumV2Length) -> ProxyProtocolParser.ParseResult {
    bytes.withUnsafeBytes { ProxyProtocolParser.parse($0, limit: limit) }
}

private func parse(_ text: String) -> ProxyProtocolParser.ParseResult { parse(Array(text.utf8)) }

private func encoded(_ encode: (SocketAddress, SocketAddress, UnsafeMutableRawBufferPointer) -> Int,
                     _ source: SocketAddress, _ destination: SocketAddress) -> [UInt8] {
    var buffer = [UInt8](repeating: 0xEE, count: 128)
    let count = buffer.withUnsafeMutableBytes { encode(source, destination, $0) }
    return Array(buffer[0..<count])
}

private func v1(_ source: SocketAddress, _ destination: SocketAddress) -> [UInt8] {
    encoded(ProxyProtocolEncoder.v1, source, destination)
}

private func v2(_ source: SocketAddress, _ destination: SocketAddress) -> [UInt8] {
    encoded(ProxyProtocolEncoder.v2, source, destination)
}

private let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

private extension ProxyProtocolParser.ParseResult {
    var isNeedMoreData: Bool { if case .needMoreData = self { true } else { false } }
    var isInvalid: Bool { if case .invalid = self { true } else { false } }
    var header: ProxyHeader? { if case .complete(let header, _) = self { header } else { nil } }
    var consumed: Int? { if case .complete(_, let consumed) = self { consumed } else { nil } }
}

/// The same endpoint, whatever its sockaddr form.
private func same(_ a: SocketAddress?, _ b: SocketAddress) -> Bool {
    guard let a else { return false }
    return a.port == b.port && a.ipv4 == b.ipv4 && a.ipv6?.high == b.ipv6?.high && a.ipv6?.low == b.ipv6?.low
}

@Suite struct ProxyProtocolTests {
    // MARK: Encoding

    @Test func v1LineForIPv4MatchesTheSpecExample() {
        let line = v1(address("192.0.2.1", 56324), address("192.0.2.11", 443))
        #expect(String(decoding: line, as: UTF8.self) == "PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\n")
    }

    @Test func v1LineForIPv6UsesTheCompressedForm() {
        let line = v1(address("2001:db8::1", 1), address("2001:db8:0:1:0:0:0:2", 0))
        #expect(String(decoding: line, as: UTF8.self) == "PROXY TCP6 2001:db8::1 2001:db8:0:1::2 1 0\r\n")
    }

    @Test func v1LongestIPv6LineFitsTheSpecBound() {
        let all = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        let line = v1(address(all, 65535), address(all, 65535))
        #expect(line.count == 104)
        #expect(String(decoding: line, as: UTF8.self) == "PROXY TCP6 \(all) \(all) 65535 65535\r\n")
    }

    @Test func v1MappedClientsOnADualStackListenerAreSentAsTCP4() {
        let line = v1(address("::ffff:192.0.2.7", 40000), address("192.0.2.1", 80))
        #expect(String(decoding: line, as: UTF8.self) == "PROXY TCP4 192.0.2.7 192.0.2.1 40000 80\r\n")
    }

    @Test func v1MixedFamiliesAreSentAsUnknown() {
        let line = v1(address("192.0.2.7", 1), address("2001:db8::1", 2))
        #expect(String(decoding: line, as: UTF8.self) == "PROXY UNKNOWN\r\n")
        #expect(v1(SocketAddress(), SocketAddress()) == Array("PROXY UNKNOWN\r\n".utf8))
    }

    @Test func v2HeaderForIPv4HasTheSpecLayout() {
        let header = v2(address("192.0.2.1", 12345), address("198.51.100.7", 443))
        #expect(header == signature + [0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 1, 198, 51, 100, 7, 0x30, 0x39, 0x01, 0xBB])
    }

    @Test func v2HeaderForIPv6HasTheSpecLayout() {
        let header = v2(address("2001:db8::1", 12345), address("2001:db8::2", 443))
        let source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
        let destination: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [2]
        #expect(header == signature + [0x21, 0x21, 0x00, 0x24] + source + destination + [0x30, 0x39, 0x01, 0xBB])
    }

    @Test func v2MixedFamiliesSendTheIPv4SideMapped() {
        let header = v2(address("192.0.2.7", 1), address("2001:db8::1", 2))
        #expect(Array(header[12..<16]) == [0x21, 0x21, 0x00, 0x24])
        #expect(Array(header[16..<32]) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 7])
        let parsed = parse(header).header
        #expect(parsed?.source?.ipv4 == 0xC000_0207)
        #expect(parsed?.destination?.ipv6?.high == 0x2001_0DB8_0000_0000)
    }

    @Test func v2NonIPAddressesSendAnUnspecifiedProxyHeader() {
        #expect(v2(SocketAddress(), SocketAddress()) == signature + [0x21, 0x00, 0x00, 0x00])
    }

    @Test func v2LocalHeaderIsSixteenBytes() {
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = buffer.withUnsafeMutableBytes { ProxyProtocolEncoder.v2Local(into: $0) }
        #expect(count == 16)
        #expect(buffer == signature + [0x20, 0x00, 0x00, 0x00])
        let header = parse(buffer).header
        #expect(header?.command == .local)
        #expect(header?.source == nil)
    }

    // MARK: Round trips

    static let pairs: [(String, UInt16, String, UInt16)] = [
        ("192.0.2.1", 12345, "198.51.100.7", 443),
        ("0.0.0.0", 0, "255.255.255.255", 65535),
        ("198.0.0.1", 1, "198.0.0.2", 2),
        ("2001:db8::1", 40000, "2001:db8::2", 8443),
        ("::1", 1, "::", 0),
        ("fe80::1:0:0:0", 7, "1:2:3:4:5:6:7:8", 9),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, "2001:db8:0:0:1::1", 65535),
    ]

    @Test(arguments: pairs)
    func v1AndV2RoundTrip(_ pair: (String, UInt16, String, UInt16)) {
        let source = address(pair.0, pair.1)
        let destination = address(pair.2, pair.3)
        for bytes in [v1(source, destination), v2(source, destination)] {
            let result = parse(bytes + Array("payload".utf8))
            #expect(result.consumed == bytes.count)
            #expect(result.header?.command == .proxy)
            #expect(result.header?.transport == .stream)
            #expect(result.header?.family == (source.family == destination.family && pair.0.contains(":") ? .inet6 : .inet))
            #expect(same(result.header?.source, source))
            #expect(same(result.header?.destination, destination))
        }
    }

    @Test func v1MappedIPv6NextToPlainIPv6RoundTripsAsTCP6() {
        let source = address("::ffff:192.0.2.7", 1)
        let destination = address("2001:db8::1", 2)
        let line = v1(source, destination)
        #expect(String(decoding: line, as: UTF8.self) == "PROXY TCP6 ::ffff:192.0.2.7 2001:db8::1 1 2\r\n")
        let header = parse(line).header
        #expect(header?.source?.ipv4 == 0xC000_0207)
        #expect(same(header?.destination, destination))
    }

    // MARK: Parsing known-good input

    @Test func v1HeaderLeavesTheRequestUnconsumed() {
        let text = "PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.0.2.11\r\n\r\n"
        let result = parse(text)
        #expect(result.consumed == "PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\n".utf8.count)
        #expect(result.header?.version == .v1)
        #expect(same(result.header?.source, address("192.0.2.1", 56324)))
        #expect(same(result.header?.destination, address("192.0.2.11", 443)))
    }

    @Test func v1AcceptsUppercaseHexAndUncompressedIPv6() {
        let result = parse("PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::FFFF:1.2.3.4 1 65535\r\n")
        #expect(same(result.header?.source, address("2001:db8::1", 1)))
        #expect(result.header?.destination?.ipv4 == 0x0102_0304)
    }

    @Test func v1UnknownIgnoresTheRestOfTheLine() {
        for line in ["PROXY UNKNOWN\r\n",
                     "PROXY UNKNOWN ffff:f::f 1.2.3.4 99999 x\r\n",
                     "PROXY UNKNOWN " + String(repeating: "f", count: 91) + "\r\n"] {
            let result = parse(line)
            #expect(result.consumed == line.utf8.count, "\(line)")
            #expect(result.header?.family == .unspecified)
            #expect(result.header?.source == nil)
        }
    }

    @Test func v2LocalWithAnAddressBlockIsSkippedWhole() {
        let bytes = signature + [0x20, 0x11, 0x00, 0x0C] + [UInt8](repeating: 9, count: 12) + [0x42]
        let result = parse(bytes)
        #expect(result.consumed == 28)
        #expect(result.header?.command == .local)
        #expect(result.header?.source == nil)
    }

    @Test func v2TLVsAreSkipped() {
        let tlvs: [UInt8] = [0x04, 0x00, 0x02, 0x00, 0x00, 0x01, 0x00, 0x02, 0x68, 0x32, 0x20, 0x00, 0x00]
        let bytes = signature + [0x21, 0x11, 0x00, UInt8(12 + tlvs.count), 127, 0, 0, 1, 127, 0, 0, 2, 0, 80, 0, 81] + tlvs
        let result = parse(bytes + [0xFF])
        #expect(result.consumed == bytes.count)
        #expect(same(result.header?.source, address("127.0.0.1", 80)))
    }

    @Test func v2UnixAndDatagramAreAcceptedWithoutAddresses() {
        let unix = signature + [0x21, 0x31, 0x00, 0xD8] + [UInt8](repeating: 0x61, count: 216)
        #expect(parse(unix).header?.family == .unix)
        #expect(parse(unix).header?.source == nil)
        let udp = signature + [0x21, 0x12, 0x00, 0x0C] + [UInt8](repeating: 1, count: 12)
        #expect(parse(udp).header?.transport == .datagram)
        #expect(parse(udp).header?.source == nil)
        let unspecified = signature + [0x21, 0x00, 0x00, 0x03, 1, 2, 3]
        #expect(parse(unspecified).consumed == 19)
    }

    // MARK: Incremental delivery

    static let validHeaders: [[UInt8]] = [
        Array("PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\n".utf8),
        Array("PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 0 65535\r\n".utf8),
        Array("PROXY UNKNOWN\r\n".utf8),
        Array("PROXY UNKNOWN a b c\r\n".utf8),
        signature + [0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 1, 198, 51, 100, 7, 0x30, 0x39, 0x01, 0xBB],
        signature + [0x21, 0x21, 0x00, 0x24] + [UInt8](repeating: 0xAB, count: 36),
        signature + [0x20, 0x00, 0x00, 0x00],
        signature + [0x21, 0x11, 0x00, 0x10] + [UInt8](repeating: 1, count: 12) + [0x04, 0x00, 0x01, 0x00],
    ]

    @Test(arguments: validHeaders)
    func everyTruncationOfAValidHeaderWaitsForMore(_ header: [UInt8]) {
        for length in 0..<header.count {
            #expect(parse(Array(header[0..<length])).isNeedMoreData, "prefix of \(length) bytes")
        }
        #expect(parse(header).consumed == header.count)
    }

    @Test(arguments: validHeaders)
    func aWrongByteAnywhereInTheFixedPartIsRejectedAsSoonAsItArrives(_ header: [UInt8]) {
        // The signature / "PROXY " preamble and the v2 version byte: no other byte fixes them.
        let fixed = header[0] == 0x0D ? 13 : 6
        for position in 0..<fixed {
            var corrupted = Array(header[0...position])
            corrupted[position] ^= 0x40
            #expect(parse(corrupted).isInvalid, "byte \(position)")
        }
    }

    // MARK: Malformed input

    @Test func garbageIsRejectedAtTheFirstByte() {
        for text in ["GET / HTTP/1.1\r\n", "\u{16}\u{03}\u{01}", "proxy TCP4", " PROXY", "\r\n\r\nX"] {
            #expect(parse(text).isInvalid, "\(text)")
        }
        #expect(parse([UInt8]()).isNeedMoreData)
    }

    @Test func v2WrongVersionIsRejected() {
        for versionCommand: UInt8 in [0x11, 0x31, 0x01, 0xF1] {
            #expect(parse(signature + [versionCommand]).isInvalid)
        }
    }

    @Test func v2UnknownCommandFamilyOrTransportIsRejected() {
        #expect(parse(signature + [0x22]).isInvalid)
        #expect(parse(signature + [0x2F]).isInvalid)
        #expect(parse(signature + [0x21, 0x41]).isInvalid)
        #expect(parse(signature + [0x21, 0x13]).isInvalid)
        #expect(parse(signature + [0x21, 0xF0]).isInvalid)
    }

    @Test func v2AddressBlockShorterThanTheFamilyNeedsIsRejectedBeforeWaiting() {
        #expect(parse(signature + [0x21, 0x11, 0x00, 0x0B]).isInvalid)
        #expect(parse(signature + [0x21, 0x21, 0x00, 0x0C]).isInvalid)
        #expect(parse(signature + [0x21, 0x31, 0x00, 0x24]).isInvalid)
    }

    @Test func v2TLVOverrunningTheHeaderIsRejected() {
        let addresses = [UInt8](repeating: 1, count: 12)
        #expect(parse(signature + [0x21, 0x11, 0x00, 0x0E] + addresses + [0x04, 0x00]).isInvalid)
        #expect(parse(signature + [0x21, 0x11, 0x00, 0x10] + addresses + [0x04, 0x00, 0x02, 0x00]).isInvalid)
    }

    @Test func v2HeaderLongerThanTheCallerBuffersIsRejectedAtOnce() {
        #expect(parse(signature + [0x21, 0x11, 0x10, 0x00], limit: 4096).isInvalid)
        #expect(parse(signature + [0x21, 0x11, 0x0F, 0xF0], limit: 4096).isNeedMoreData)
        #expect(parse(signature + [0x21, 0x11, 0xFF, 0xFF]).isNeedMoreData)
    }

    @Test func v1WithoutCRLFWithin107BytesIsRejected() {
        let long = "PROXY UNKNOWN " + String(repeating: "a", count: 92)
        #expect(long.utf8.count == 106)
        #expect(parse(long).isNeedMoreData)
        #expect(parse(long + "a").isInvalid)
        // A CR in the 107th byte leaves no room for the LF: no need to wait for it.
        #expect(parse(long + "\r").isInvalid)
        #expect(parse(String(long.dropLast()) + "\r").isNeedMoreData)
        #expect(parse(long + "\r\n").isInvalid, "108 bytes with the CRLF")
        #expect(parse(String(long.dropLast()) + "\r\n").consumed == 107)
        #expect(parse(long + "a\r\n").isInvalid)
    }

    @Test func v1LineEndingsMustBeExactlyCRLF() {
        #expect(parse("PROXY UNKNOWN\n").isInvalid)
        #expect(parse("PROXY UNKNOWN\rX").isInvalid)
        #expect(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n").isInvalid)
        #expect(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n").isInvalid)
    }

    @Test(arguments: [
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n",
    ])
    func v1BadPortsAreRejected(_ line: String) {
        #expect(parse(line).isInvalid)
    }

    @Test(arguments: [
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 ::2 1 2\r\n",
        "PROXY TCP4 256.0.0.1 1.2.3.4 1 2\r\n",
        "PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n",
        "PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n",
        "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
        "PROXY TCP6 1::2::3 ::1 1 2\r\n",
        "PROXY TCP6 12345::1 ::1 1 2\r\n",
        "PROXY TCP6 :1 ::1 1 2\r\n",
        "PROXY TCP6 1: ::1 1 2\r\n",
        "PROXY TCP6 1:2:3:4:5:6:7::8 ::1 1 2\r\n",
        "PROXY TCP6 ::1:2:3:4:5:6:1.2.3.4 ::1 1 2\r\n",
    ])
    func v1AddressesInvalidForTheFamilyAreRejected(_ line: String) {
        #expect(parse(line).isInvalid)
    }

    @Test(arguments: [
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP4 \r\n",
        "PROXY\r\n",
        "PROXY \r\n",
        "PROXY UNK\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UNKNOWN \u{7}\r\n",
    ])
    func v1MalformedLinesAreRejected(_ line: String) {
        #expect(parse(line).isInvalid)
    }

    @Test func v1ImpossibleCharactersAreRejectedBeforeTheLineEnds() {
        #expect(parse("PROXY TCP4 1.2.3.x").isInvalid)
        #expect(parse("PROXY TCP4 1.2.3.4 ::").isInvalid)
        #expect(parse("PROXY TCP6 fe80::g").isInvalid)
        #expect(parse("PROXY TCPX").isInvalid)
        #expect(parse("PROXY TCP6 fe80::1 ").isNeedMoreData)
    }
}
