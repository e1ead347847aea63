@testable import BasculeProxy
import Testing

/// A ClientHello as a TLS 1.3 client writes it (version 3.3, random, a session id, suites,
/// null compression, extensions), built field by field so each test can bend one field.
struct ClientHelloBytes {
    var serverNames: [String] = ["www.example.com"]
    var alpn: [String] = []
    var encryptedClientHello = false
    var extraExtensions: [(UInt16, [UInt8])] = [(0x002B, [0x02, 0x03, 0x04])]

    static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    var extensions: [UInt8] {
        var out: [UInt8] = []
        func add(_ type: UInt16, _ data: [UInt8]) { out += Self.u16(Int(type)) + Self.u16(data.count) + data }
        if !serverNames.isEmpty {
            var list: [UInt8] = []
            for name in serverNames { list += [0] + Self.u16(name.utf8.count) + Array(name.utf8) }
            add(0, Self.u16(list.count) + list)
        }
        if !alpn.isEmpty {
            var list: [UInt8] = []
            for name in alpn { list += [UInt8(name.utf8.count)] + Array(name.utf8) }
            add(16, Self.u16(list.count) + list)
        }
        if encryptedClientHello { add(0xFE0D, [0, 0, 1, 0, 1, 7, 0, 0, 0, 0]) }
        for (type, data) in extraExtensions { add(type, data) }
        return out
    }

    /// The handshake message: type, 24-bit length, body.
    var message: [UInt8] {
        var body: [UInt8] = [3, 3] + [UInt8](repeating: 0xA5, count: 32)
        body += [32] + [UInt8](repeating: 0x5A, count: 32)
        body += Self.u16(6) + [0x13, 0x01, 0x13, 0x02, 0x00, 0xFF]
        body += [1, 0]
        let extensions = extensions
        body += Self.u16(extensions.count) + extensions
        return [1, 0] + Self.u16(body.count) + body
    }

    /// The message in records of at most `fragment` bytes each.
    func records(fragment: Int = 16384) -> [UInt8] {
        let message = message
        var out: [UInt8] = []
        var start = 0
        while start < message.count {
            let end = min(start + fragment, message.count)
            out += [22, 3, 1] + Self.u16(end - start) + message[start..<end]
            start = end
        }
        return out
    }
}

enum ReadOutcome: Equatable {
    case needMore, notTLS, malformed, tooLarge
    case hello(name: String?, alpn: [String], ech: Bool, length: Int)
}

func readClientHello(_ bytes: [UInt8], maximumBytes: Int = ClientHelloReader.defaultMaximumBytes) -> ReadOutcome {
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: maximumBytes, alignment: 8)
    defer { scratch.deallocate() }
    return bytes.withUnsafeBytes { raw in
        switch ClientHelloReader.read(raw, scratch: scratch, maximumBytes: maximumBytes) {
        case .needMoreBytes: return .needMore
        case .notTLS: return .notTLS
        case .malformed: return .malformed
        case .tooLarge: return .tooLarge
        case .complete(let hello):
            return .hello(name: hello.serverName.map { String(decoding: $0, as: UTF8.self) },
                          alpn: hello.alpn.map { String(decoding: $0, as: UTF8.self) },
                          ech: hello.offersEncryptedClientHello, length: hello.length)
        }
    }
}

@Suite struct ClientHelloReaderTests {
    @Test func readsTheNameAndProtocolsOfAClientHelloInOneRecord() {
        var hello = ClientHelloBytes()
        hello.alpn = ["h2", "http/1.1"]
        let bytes = hello.records()
        #expect(readClientHello(bytes) == .hello(name: "www.example.com", alpn: ["h2", "http/1.1"], ech: false,
                                                 length: bytes.count))
    }

    @Test func bytesAfterTheClientHelloAreNotPartOfIt() {
        let bytes = ClientHelloBytes().records()
        // Early data follows as an application_data record: the reader stops at the ClientHello.
        let outcome = readClientHello(bytes + [23, 3, 3, 0, 2, 0xAA, 0xBB])
        #expect(outcome == .hello(name: "www.example.com", alpn: [], ech: false, length: bytes.count))
    }

    @Test func aClientHelloArrivingOneByteAtATimeWaitsThenReadsTheName() {
        let bytes = ClientHelloBytes().records()
        for count in 0..<bytes.count {
            #expect(readClientHello(Array(bytes[0..<count])) == .needMore, "after \(count) bytes")
        }
        #expect(readClientHello(bytes) == .hello(name: "www.example.com", alpn: [], ech: false, length: bytes.count))
    }

    @Test(arguments: [1, 3, 4, 5, 40, 100])
    func aClientHelloSplitOverSeveralRecordsIsReassembled(fragment: Int) {
        var hello = ClientHelloBytes()
        hello.serverNames = ["api.example.com"]
        hello.alpn = ["h2"]
        let bytes = hello.records(fragment: fragment)
        #expect(readClientHello(bytes) == .hello(name: "api.example.com", alpn: ["h2"], ech: false, length: bytes.count))
    }

    @Test func aTwoRecordClientHelloFedOneByteAtATimeReadsTheName() {
        let message = ClientHelloBytes().message
        let bytes = ClientHelloBytes().records(fragment: message.count / 2 + 1)
        #expect(bytes.count == message.count + 10)
        for count in 0..<bytes.count {
            #expect(readClientHello(Array(bytes[0..<count])) == .needMore, "after \(count) bytes")
        }
        #expect(readClientHello(bytes) == .hello(name: "www.example.com", alpn: [], ech: false, length: bytes.count))
    }

    @Test func plainHTTPAndOtherProtocolsAreRefusedAtTheirFirstByte() {
        #expect(readClientHello(Array("G".utf8)) == .notTLS)
        #expect(readClientHello(Array("SSH-2.0-OpenSSH\r\n".utf8)) == .notTLS)
        #expect(readClientHello(Array("PROXY TCP4 ".utf8)) == .notTLS)
        // An SSL 2.0-style hello and a TLS alert are not a handshake record either.
        #expect(readClientHello([0x80, 0x2E, 0x01]) == .notTLS)
        #expect(readClientHello([21, 3, 3, 0, 2, 2, 40]) == .notTLS)
        #expect(readClientHello([22, 4]) == .notTLS)
        #expect(readClientHello([22, 3, 9]) == .notTLS)
    }

    @Test func aClientHelloWithoutServerNameHasNoName() {
        var hello = ClientHelloBytes()
        hello.serverNames = []
        let bytes = hello.records()
        #expect(readClientHello(bytes) == .hello(name: nil, alpn: [], ech: false, length: bytes.count))
    }

    @Test func encryptedClientHelloHidesTheOuterName() {
        var hello = ClientHelloBytes()
        hello.serverNames = ["public.ech-provider.example"]
        hello.encryptedClientHello = true
        let bytes = hello.records()
        #expect(readClientHello(bytes) == .hello(name: nil, alpn: [], ech: true, length: bytes.count))
    }

    @Test func aClientHelloAnnouncingMoreThanTheCapIsRefusedBeforeItArrives() {
        var hello = ClientHelloBytes()
        hello.extraExtensions = [(0x0015, [UInt8](repeating: 0, count: 3000))]
        let bytes = hello.records()
        #expect(readClientHello(Array(bytes[0..<9]), maximumBytes: 2048) == .tooLarge)
        #expect(readClientHello(bytes, maximumBytes: 4096) == .hello(name: "www.example.com", alpn: [], ech: false,
                                                                     length: bytes.count))
        // Many tiny records: their headers count against the cap too.
        #expect(readClientHello(ClientHelloBytes().records(fragment: 1), maximumBytes: 512) == .tooLarge)
    }

    @Test func lengthsThatDisagreeAreMalformed() {
        let good = ClientHelloBytes().records()
        var wrongType = good
        wrongType[5] = 2 // ServerHello
        #expect(readClientHello(wrongType) == .malformed)
        // The record claims one byte more than the handshake message holds.
        var longRecord = good
        longRecord[4] += 1
        #expect(readClientHello(longRecord + [0]) == .malformed)
        // The extensions block claims more than the message holds.
        var longExtensions = ClientHelloBytes().message
        let extensionsAt = 4 + 2 + 32 + 33 + 8 + 2
        longExtensions[extensionsAt + 1] += 1
        #expect(readClientHello([22, 3, 1] + ClientHelloBytes.u16(longExtensions.count) + longExtensions) == .malformed)
        // An empty handshake record is forbidden.
        #expect(readClientHello([22, 3, 1, 0, 0]) == .malformed)
        // A record longer than 2^14.
        #expect(readClientHello([22, 3, 1, 0x40, 0x01]) == .malformed)
        // An alert in the middle of a split ClientHello.
        let split = ClientHelloBytes().records(fragment: 50)
        #expect(readClientHello(Array(split[0..<55]) + [21, 3, 3, 0, 2, 2, 40]) == .malformed)
    }

    @Test func serverNamesThatAreNotHostNamesAreMalformed() {
        for name in ["", "a..b", "trailing.dot.", "spa ce.example", "nul\u{0}.example", String(repeating: "a", count: 64)] {
            var hello = ClientHelloBytes()
            hello.serverNames = [name]
            #expect(readClientHello(hello.records()) == .malformed, "\(name.debugDescription)")
        }
        var twice = ClientHelloBytes()
        twice.serverNames = ["a.example", "b.example"]
        #expect(readClientHello(twice.records()) == .malformed)
    }

    @Test func anEmptyALPNNameIsMalformed() {
        var hello = ClientHelloBytes()
        hello.alpn = ["h2", ""]
        #expect(readClientHello(hello.records()) == .malformed)
    }

    @Test func aTruncatedClientHelloNeverCompletes() {
        let bytes = ClientHelloBytes().records()
        // The record ends early and the connection delivers nothing more: still waiting.
        #expect(readClientHello(Array(bytes.dropLast())) == .needMore)
    }
}
