import BasculePosix
import Glibc
import Testing

@Suite struct SocketAddressTests {
    @Test func ipv4BytesRoundTripThroughTheSocketAddress() {
        let address = SocketAddress(bytes: [127, 0, 0, 1], port: 8081)
        #expect(address.family == AF_INET)
        #expect(address.length == socklen_t(MemoryLayout<sockaddr_in>.size))
        #expect(address.description == "127.0.0.1:8081")
        #expect(address.ipv4 == 0x7F00_0001)
        #expect(address.ipv6 == nil)
        #expect(address == SocketAddress(ipv4: 0x7F00_0001, port: 8081))
    }

    @Test func ipv6BytesKeepTheirBracketsInDescriptions() {
        let bytes: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
        let address = SocketAddress(bytes: bytes, port: 443)
        #expect(address.family == AF_INET6)
        #expect(address.description == "[2001:db8::1]:443")
        #expect(address.ipv4 == nil)
        #expect(address.ipv6?.high == 0x2001_0DB8_0000_0000)
        #expect(address.ipv6?.low == 1)
        #expect(address == SocketAddress(ipv6: 0x2001_0DB8_0000_0000, 1, port: 443))
    }

    @Test func ipv4MappedClientsReadAsTheirIPv4AddressButKeepAllBits() {
        // A client reaching a dual-stack listener must keep its affinity and match IPv4 rules.
        let mapped = SocketAddress(bytes: Array(repeating: 0, count: 10) + [0xFF, 0xFF, 192, 0, 2, 7], port: 1)
        #expect(mapped.ipv4 == 0xC000_0207)
        #expect(mapped.ipv6 == nil)
        #expect(mapped.rawIPv6?.low == 0xFFFF_C000_0207)
        #expect(mapped.description == "[::ffff:192.0.2.7]:1")
        #expect(mapped != SocketAddress(ipv4: 0xC000_0207, port: 1))
    }

    @Test func withPortChangesOnlyThePort() {
        let address = SocketAddress(ipv6: 0, 1, port: 80).withPort(8080)
        #expect(address.description == "[::1]:8080")
        #expect(SocketAddress(ipv4: 0x7F00_0001, port: 80).withPort(0).port == 0)
    }

    @Test func loopbackIsRecognisedInEveryFamily() {
        #expect(SocketAddress(ipv4: 0x7F01_0203, port: 1).isLoopback)
        #expect(SocketAddress(ipv6: 0, 1, port: 1).isLoopback)
        #expect(SocketAddress(ipv6: 0, 0xFFFF_7F00_0001, port: 1).isLoopback)
        #expect(!SocketAddress(ipv4: 0xC000_0201, port: 1).isLoopback)
        #expect(!SocketAddress().isLoopback)
    }

    @Test(arguments: [SocketAddress(ipv4: 0x7F00_0001, port: 0), SocketAddress(ipv6: 0, 1, port: 0)])
    func theKernelReportsBackTheAddressAListenerWasBoundTo(_ requested: SocketAddress) throws {
        let listener = try SocketCalls.listener(on: requested, backlog: 4, shared: false)
        defer { closeDescriptor(listener) }
        let bound = SocketCalls.localAddress(listener)
        #expect(bound.port != 0)
        #expect(bound == requested.withPort(bound.port))

        // accept() fills the peer in place: it must be the client's own address.
        let client = try BlockingSocket.connect(to: bound, timeoutSeconds: 5)
        defer { closeDescriptor(client) }
        var peer = SocketAddress()
        var accepted: Int32?
        for _ in 0..<500 where accepted == nil {
            accepted = try SocketCalls.accept(listener, peer: &peer)
            if accepted == nil { usleep(1000) }
        }
        let server = try #require(accepted)
        defer { closeDescriptor(server) }
        #expect(peer == SocketCalls.localAddress(client))
    }
}
