import BasculeConfig
@testable import BasculeProxy
import Testing

@Suite struct SocketAddressTests {
    @Test func ipv4EndpointRoundTripsThroughTheSocketAddress() throws {
        let address = try SocketAddress(Endpoint(host: "127.0.0.1", port: 8081))
        #expect(address.description == "127.0.0.1:8081")
        #expect(address.port == 8081)
        #expect(address.ipv4 == 0x7F00_0001)
        #expect(address.ipv6 == nil)
    }

    @Test func ipv6EndpointKeepsItsBracketsInDescriptions() throws {
        let address = try SocketAddress(Endpoint(host: "2001:db8::1", port: 443))
        #expect(address.description == "[2001:db8::1]:443")
        #expect(address.ipv4 == nil)
        #expect(address.ipv6?.high == 0x2001_0DB8_0000_0000)
        #expect(address.ipv6?.low == 1)
    }

    @Test func ipv4MappedClientsHashLikeTheirIPv4Address() throws {
        // A client reaching a dual-stack listener must keep its affinity.
        let mapped = try SocketAddress(Endpoint(host: "::ffff:192.0.2.7", port: 1))
        #expect(mapped.ipv4 == 0xC000_0207)
    }

    @Test func aHostnameIsRejectedNotResolved() {
        #expect(throws: (any Error).self) { try SocketAddress(Endpoint(host: "db.local", port: 80)) }
    }
}
