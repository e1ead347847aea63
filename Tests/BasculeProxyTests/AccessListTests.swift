import BasculeConfig
import BasculePosix
@testable import BasculeProxy
import Testing

private func client(_ host: String) -> SocketAddress {
    SocketAddress(Endpoint(host: host, port: 40000))
}

/// Blocks as config hands them over; test literals are valid by construction.
private func blocks(_ texts: String...) -> [CIDRBlock] {
    texts.map { CIDRBlock($0)! }
}

@Suite struct AccessListTests {
    @Test func emptyListsPermitEveryone() {
        let list = AccessList(allow: [], deny: [])
        #expect(list.permitsEveryone)
        #expect(list.permits(client("192.0.2.1")))
        #expect(list.permits(client("2001:db8::1")))
        #expect(list.permits(SocketAddress()))
    }

    @Test func anAllowListAdmitsOnlyItsNetworks() {
        let list = AccessList(allow: blocks("192.0.2.0/24", "2001:db8::/32"), deny: [])
        #expect(!list.permitsEveryone)
        #expect(list.permits(client("192.0.2.0")))
        #expect(list.permits(client("192.0.2.255")))
        #expect(!list.permits(client("192.0.3.0")))
        #expect(!list.permits(client("192.0.1.255")))
        #expect(list.permits(client("2001:db8:ffff::1")))
        #expect(!list.permits(client("2001:db9::1")))
    }

    @Test func denyWinsOverAllow() {
        let list = AccessList(allow: blocks("198.0.0.0/8", "2001:db8::/32"), deny: blocks("198.1.0.0/16", "2001:db8:1::/48"))
        #expect(list.permits(client("198.2.0.1")))
        #expect(!list.permits(client("198.1.2.3")))
        #expect(list.permits(client("2001:db8:2::1")))
        #expect(!list.permits(client("2001:db8:1::1")))
        let same = AccessList(allow: blocks("192.0.2.7"), deny: blocks("192.0.2.7"))
        #expect(!same.permits(client("192.0.2.7")))
    }

    @Test func aDenyListAloneAdmitsEveryoneElse() {
        let list = AccessList(allow: [], deny: blocks("198.51.100.0/24"))
        #expect(!list.permits(client("198.51.100.9")))
        #expect(list.permits(client("203.0.113.1")))
        #expect(list.permits(client("2001:db8::1")))
    }

    @Test func slashZeroCoversItsWholeFamilyOnly() {
        let ipv4Only = AccessList(allow: blocks("0.0.0.0/0"), deny: [])
        #expect(ipv4Only.permits(client("0.0.0.0")))
        #expect(ipv4Only.permits(client("255.255.255.255")))
        #expect(!ipv4Only.permits(client("2001:db8::1")))
        let noIPv6 = AccessList(allow: [], deny: blocks("::/0"))
        #expect(!noIPv6.permits(client("::1")))
        #expect(noIPv6.permits(client("192.0.2.1")))
        // A mapped client is an IPv4 client: "::/0" is about IPv6 ones.
        #expect(noIPv6.permits(client("::ffff:192.0.2.1")))
    }

    @Test func bareAddressesAreSingleHosts() {
        let list = AccessList(allow: blocks("192.0.2.7", "192.0.2.8/32", "2001:db8::7", "2001:db8::8/128"), deny: [])
        #expect(list.permits(client("192.0.2.7")))
        #expect(list.permits(client("192.0.2.8")))
        #expect(!list.permits(client("192.0.2.9")))
        #expect(list.permits(client("2001:db8::7")))
        #expect(list.permits(client("2001:db8::8")))
        #expect(!list.permits(client("2001:db8::9")))
        #expect(!list.permits(client("2001:db8::1:7")))
    }

    @Test func prefixesAcrossTheIPv6HalvesMatchBitExactly() {
        let slash64 = AccessList(allow: blocks("2001:db8:1:2::/64"), deny: [])
        #expect(slash64.permits(client("2001:db8:1:2:ffff:ffff:ffff:ffff")))
        #expect(!slash64.permits(client("2001:db8:1:3::")))
        let slash65 = AccessList(allow: blocks("2001:db8:1:2:8000::/65"), deny: [])
        #expect(slash65.permits(client("2001:db8:1:2:8000::1")))
        #expect(!slash65.permits(client("2001:db8:1:2:7fff::1")))
        let slash63 = AccessList(allow: blocks("2001:db8:1:2::/63"), deny: [])
        #expect(slash63.permits(client("2001:db8:1:3::1")))
        #expect(!slash63.permits(client("2001:db8:1:4::1")))
        let slash1 = AccessList(allow: blocks("128.0.0.0/1"), deny: [])
        #expect(slash1.permits(client("200.0.0.1")))
        #expect(!slash1.permits(client("127.255.255.255")))
    }

    @Test func ipv4MappedClientsMatchIPv4Rules() {
        let list = AccessList(allow: blocks("192.0.2.0/24"), deny: blocks("192.0.2.66"))
        #expect(list.permits(client("::ffff:192.0.2.7")))
        #expect(!list.permits(client("::ffff:192.0.2.66")))
        #expect(!list.permits(client("::ffff:198.51.100.1")))
    }

    @Test func mappedFormRulesMatchIPv4Clients() {
        let list = AccessList(allow: blocks("::ffff:192.0.2.0/120", "::ffff:198.51.100.9"), deny: [])
        #expect(list.permits(client("192.0.2.7")))
        #expect(list.permits(client("::ffff:192.0.2.7")))
        #expect(list.permits(client("198.51.100.9")))
        #expect(!list.permits(client("198.51.100.10")))
    }

    @Test func nonIPAddressesAreRefusedOnceAnyRuleExists() {
        #expect(!(AccessList(allow: [], deny: blocks("192.0.2.0/24"))).permits(SocketAddress()))
    }
}
