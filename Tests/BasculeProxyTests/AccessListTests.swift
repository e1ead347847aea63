import BasculeConfig
@testable import BasculeProxy
import Testing

private func client(_ host: String) -> SocketAddress {
    // Test literals are valid by construction.
    try! SocketAddress(Endpoint(host: host, port: 40000))
}

@Suite struct AccessListTests {
    @Test func emptyListsPermitEveryone() throws {
        let list = try AccessList(allow: [], deny: [])
        #expect(list.permitsEveryone)
        #expect(list.permits(client("192.0.2.1")))
        #expect(list.permits(client("2001:db8::1")))
        #expect(list.permits(SocketAddress()))
    }

    @Test func anAllowListAdmitsOnlyItsNetworks() throws {
        let list = try AccessList(allow: ["192.0.2.0/24", "2001:db8::/32"], deny: [])
        #expect(!list.permitsEveryone)
        #expect(list.permits(client("192.0.2.0")))
        #expect(list.permits(client("192.0.2.255")))
        #expect(!list.permits(client("192.0.3.0")))
        #expect(!list.permits(client("192.0.1.255")))
        #expect(list.permits(client("2001:db8:ffff::1")))
        #expect(!list.permits(client("2001:db9::1")))
    }

    @Test func denyWinsOverAllow() throws {
        let list = try AccessList(allow: ["198.0.0.0/8", "2001:db8::/32"], deny: ["198.1.0.0/16", "2001:db8:1::/48"])
        #expect(list.permits(client("198.2.0.1")))
        #expect(!list.permits(client("198.1.2.3")))
        #expect(list.permits(client("2001:db8:2::1")))
        #expect(!list.permits(client("2001:db8:1::1")))
        let same = try AccessList(allow: ["192.0.2.7"], deny: ["192.0.2.7"])
        #expect(!same.permits(client("192.0.2.7")))
    }

    @Test func aDenyListAloneAdmitsEveryoneElse() throws {
        let list = try AccessList(allow: [], deny: ["198.51.100.0/24"])
        #expect(!list.permits(client("198.51.100.9")))
        #expect(list.permits(client("203.0.113.1")))
        #expect(list.permits(client("2001:db8::1")))
    }

    @Test func slashZeroCoversItsWholeFamilyOnly() throws {
        let ipv4Only = try AccessList(allow: ["0.0.0.0/0"], deny: [])
        #expect(ipv4Only.permits(client("0.0.0.0")))
        #expect(ipv4Only.permits(client("255.255.255.255")))
        #expect(!ipv4Only.permits(client("2001:db8::1")))
        let noIPv6 = try AccessList(allow: [], deny: ["::/0"])
        #expect(!noIPv6.permits(client("::1")))
        #expect(noIPv6.permits(client("192.0.2.1")))
        // A mapped client is an IPv4 client: "::/0" is about IPv6 ones.
        #expect(noIPv6.permits(client("::ffff:192.0.2.1")))
    }

    @Test func bareAddressesAreSingleHosts() throws {
        let list = try AccessList(allow: ["192.0.2.7", "192.0.2.8/32", "2001:db8::7", "2001:db8::8/128"], deny: [])
        #expect(list.permits(client("192.0.2.7")))
        #expect(list.permits(client("192.0.2.8")))
        #expect(!list.permits(client("192.0.2.9")))
        #expect(list.permits(client("2001:db8::7")))
        #expect(list.permits(client("2001:db8::8")))
        #expect(!list.permits(client("2001:db8::9")))
        #expect(!list.permits(client("2001:db8::1:7")))
    }

    @Test func prefixesAcrossTheIPv6HalvesMatchBitExactly() throws {
        let slash64 = try AccessList(allow: ["2001:db8:1:2::/64"], deny: [])
        #expect(slash64.permits(client("2001:db8:1:2:ffff:ffff:ffff:ffff")))
        #expect(!slash64.permits(client("2001:db8:1:3::")))
        let slash65 = try AccessList(allow: ["2001:db8:1:2:8000::/65"], deny: [])
        #expect(slash65.permits(client("2001:db8:1:2:8000::1")))
        #expect(!slash65.permits(client("2001:db8:1:2:7fff::1")))
        let slash63 = try AccessList(allow: ["2001:db8:1:2::/63"], deny: [])
        #expect(slash63.permits(client("2001:db8:1:3::1")))
        #expect(!slash63.permits(client("2001:db8:1:4::1")))
        let slash1 = try AccessList(allow: ["128.0.0.0/1"], deny: [])
        #expect(slash1.permits(client("200.0.0.1")))
        #expect(!slash1.permits(client("127.255.255.255")))
    }

    @Test func ipv4MappedClientsMatchIPv4Rules() throws {
        let list = try AccessList(allow: ["192.0.2.0/24"], deny: ["192.0.2.66"])
        #expect(list.permits(client("::ffff:192.0.2.7")))
        #expect(!list.permits(client("::ffff:192.0.2.66")))
        #expect(!list.permits(client("::ffff:198.51.100.1")))
    }

    @Test func mappedFormRulesMatchIPv4Clients() throws {
        let list = try AccessList(allow: ["::ffff:192.0.2.0/120", "::ffff:198.51.100.9"], deny: [])
        #expect(list.permits(client("192.0.2.7")))
        #expect(list.permits(client("::ffff:192.0.2.7")))
        #expect(list.permits(client("198.51.100.9")))
        #expect(!list.permits(client("198.51.100.10")))
    }

    @Test func nonIPAddressesAreRefusedOnceAnyRuleExists() throws {
        #expect(!(try AccessList(allow: [], deny: ["192.0.2.0/24"])).permits(SocketAddress()))
    }

    @Test(arguments: [
        ("", "is empty"),
        ("198.0.0.0/33", "has a prefix length over 32"),
        ("2001:db8::/129", "has a prefix length over 128"),
        ("198.0.0.1/8", "has host bits set beyond its prefix length"),
        ("2001:db8::1/32", "has host bits set beyond its prefix length"),
        ("198.0.0.0/08", "has a malformed prefix length"),
        ("198.0.0.0/", "has a malformed prefix length"),
        ("198.0.0.0/-1", "has a malformed prefix length"),
        ("198.0.0.0/8/8", "has a malformed prefix length"),
        ("198.0.0.0/ 8", "has a malformed prefix length"),
        ("10.0.0/8", "is not an IPv4 address or network"),
        ("256.0.0.0/8", "is not an IPv4 address or network"),
        (" 198.0.0.0/8", "is not an IPv4 address or network"),
        ("010.0.0.0/8", "is not an IPv4 address or network"),
        ("example.com", "is not an IPv4 address or network"),
        ("fe80::1%eth0", "is not an IPv6 address or network"),
        ("2001:db8:::/48", "is not an IPv6 address or network"),
        ("[2001:db8::]/32", "is not an IPv6 address or network"),
    ])
    func malformedEntriesAreRejectedByName(_ entry: String, _ reason: String) {
        #expect(throws: AccessListError(list: "deny", index: 1, entry: entry, reason: reason)) {
            try AccessList(allow: ["192.0.2.0/24"], deny: ["198.51.100.0/24", entry])
        }
    }

    @Test func theErrorReadsLikeAConfigPath() {
        #expect(throws: AccessListError.self) { try AccessList(allow: ["198.0.0.0/33"], deny: []) }
        do {
            _ = try AccessList(allow: ["192.0.2.0/24", "198.0.0.0/33"], deny: [])
        } catch {
            #expect(error.description == "allow[1]: \"198.0.0.0/33\" has a prefix length over 32")
        }
    }
}
