import Testing
import BasculeBalancing

@Test func clientHashIsAFixedFunctionOfTheAddress() {
    // Golden values: a different value in another process or release would send every client
    // elsewhere during a rolling upgrade.
    #expect(ClientHash.ipv4(0xC000_0201, network: false) == ClientHash.ipv4(0xC000_0201, network: false))
    #expect(ClientHash.ipv4(0xC000_0201, network: false) == 194_666_405_266_597_545)
    #expect(ClientHash.ipv6(high: 0x2001_0DB8_0000_0000, low: 1, network: false) == 14_040_762_221_904_411_279)
    #expect(StableHash.fnv1a64("pub1\u{0}127.0.0.1:9101") == 10_054_854_324_250_194_786)
}

@Test func networkAffinityHashesTheSlash24() {
    let a = ClientHash.ipv4(0xC000_0201, network: true)
    #expect(ClientHash.ipv4(0xC000_02FE, network: true) == a)
    #expect(ClientHash.ipv4(0xC000_0301, network: true) != a)
    #expect(ClientHash.ipv4(0xC000_0201, network: false) != ClientHash.ipv4(0xC000_02FE, network: false))
}

@Test func networkAffinityHashesTheSlash64() {
    let a = ClientHash.ipv6(high: 0x2001_0DB8_0000_0001, low: 1, network: true)
    #expect(ClientHash.ipv6(high: 0x2001_0DB8_0000_0001, low: .max, network: true) == a)
    #expect(ClientHash.ipv6(high: 0x2001_0DB8_0000_0002, low: 1, network: true) != a)
    #expect(ClientHash.ipv6(high: 0x2001_0DB8_0000_0001, low: 1, network: false)
            != ClientHash.ipv6(high: 0x2001_0DB8_0000_0001, low: 2, network: false))
}

@Test func ipv4AndIPv6WithTheSameBitsHashApart() {
    #expect(ClientHash.ipv4(1, network: false) != ClientHash.ipv6(high: 0, low: 1, network: false))
    #expect(ClientHash.ipv4(0, network: true) != ClientHash.ipv6(high: 0, low: 0, network: true))
}
