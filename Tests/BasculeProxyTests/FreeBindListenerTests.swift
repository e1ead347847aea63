import BasculeConfig
import BasculeEventLoop
@testable import BasculeProxy
import BasculePosix
import Glibc
import Testing

/// A standby node must listen on the shared address before it holds it, or keepalived moving
/// the address would need a restart. Only binds here; no packet is sent anywhere.
@Suite struct FreeBindListenerTests {
    @Test(arguments: ["192.0.2.80", "2001:db8::80"])
    func aListenerBindsAnAddressThisHostDoesNotHold(host: String) throws {
        let address = SocketAddress(Endpoint(host: host, port: 0))
        #expect(!SocketCalls.isHeldLocally(address))
        let fd = try SocketCalls.listener(on: address)
        defer { closeDescriptor(fd) }
        #expect(SocketCalls.localAddress(fd).host == host)
    }

    @Test(arguments: ["127.0.0.1", "0.0.0.0", "::"])
    func loopbackAndWildcardAddressesAreHeld(host: String) throws {
        #expect(SocketCalls.isHeldLocally(SocketAddress(Endpoint(host: host, port: 0))))
    }
}
