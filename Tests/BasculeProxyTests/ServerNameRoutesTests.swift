@testable import BasculeProxy
import Testing

private func pick(_ routes: ServerNameRoutes, name: String?, alpn: [String] = [], ech: Bool = false) -> ServerNameRoutes.Pick {
    var hello = ClientHelloBytes()
    hello.serverNames = name.map { [$0] } ?? []
    hello.alpn = alpn
    hello.encryptedClientHello = ech
    let bytes = hello.records()
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16384, alignment: 8)
    defer { scratch.deallocate() }
    return bytes.withUnsafeBytes { raw in
        guard case .complete(let parsed) = ClientHelloReader.read(raw, scratch: scratch) else {
            Issue.record("test ClientHello did not parse")
            return .refused
        }
        return routes.pick(parsed)
    }
}

@Suite struct ServerNameRoutesTests {
    let routes = ServerNameRoutes(routes: [
        .init(service: 0, serverNames: ["www.example.com", "example.com"]),
        .init(service: 1, serverNames: ["*.example.com"]),
        .init(service: 2, serverNames: ["api.example.com"], alpn: ["h2"]),
        .init(service: 3, serverNames: ["api.example.com"]),
    ], defaultService: 4)

    @Test func anExactNameBeatsAWildcard() {
        #expect(pick(routes, name: "www.example.com") == .named(service: 0, pattern: "www.example.com"))
        #expect(pick(routes, name: "example.com") == .named(service: 0, pattern: "example.com"))
        #expect(pick(routes, name: "shop.example.com") == .named(service: 1, pattern: "*.example.com"))
    }

    @Test func namesAreComparedWithoutRegardToCase() {
        #expect(pick(routes, name: "WWW.Example.COM") == .named(service: 0, pattern: "www.example.com"))
        #expect(pick(routes, name: "Shop.EXAMPLE.com") == .named(service: 1, pattern: "*.example.com"))
    }

    @Test func aWildcardCoversExactlyOneLabel() {
        #expect(pick(routes, name: "a.b.example.com") == .byDefault(service: 4))
        #expect(pick(routes, name: "notexample.com") == .byDefault(service: 4))
    }

    @Test func aRouteListingTheOfferedProtocolBeatsOneWithoutALPN() {
        #expect(pick(routes, name: "api.example.com", alpn: ["http/1.1", "h2"]) == .named(service: 2, pattern: "api.example.com"))
        #expect(pick(routes, name: "api.example.com", alpn: ["http/1.1"]) == .named(service: 3, pattern: "api.example.com"))
        #expect(pick(routes, name: "api.example.com") == .named(service: 3, pattern: "api.example.com"))
    }

    @Test func anALPNRouteTheClientDoesNotMatchFallsThroughToTheWildcard() {
        let onlyH2 = ServerNameRoutes(routes: [.init(service: 0, serverNames: ["api.example.com"], alpn: ["h2"]),
                                               .init(service: 1, serverNames: ["*.example.com"])],
                                      defaultService: nil)
        #expect(pick(onlyH2, name: "api.example.com", alpn: ["h2"]) == .named(service: 0, pattern: "api.example.com"))
        #expect(pick(onlyH2, name: "api.example.com", alpn: ["http/1.1"]) == .named(service: 1, pattern: "*.example.com"))
    }

    @Test func unknownNamesNoNameAndEncryptedHellosGoToTheDefault() {
        #expect(pick(routes, name: "other.test") == .byDefault(service: 4))
        #expect(pick(routes, name: nil) == .byDefault(service: 4))
        #expect(pick(routes, name: "www.example.com", ech: true) == .byDefault(service: 4))
    }

    @Test func withoutADefaultTheyAreRefused() {
        let noDefault = ServerNameRoutes(routes: [.init(service: 0, serverNames: ["www.example.com"])], defaultService: nil)
        #expect(pick(noDefault, name: "other.test") == .refused)
        #expect(pick(noDefault, name: nil) == .refused)
        #expect(noDefault.pickForNonTLS == .refused)
    }

    @Test func nonTLSGoesToTheDefaultOnlyWhenConfigured() {
        #expect(routes.pickForNonTLS == .refused)
        let lenient = ServerNameRoutes(routes: [], defaultService: 7, nonTLSToDefault: true)
        #expect(lenient.pickForNonTLS == .byDefault(service: 7))
    }
}
