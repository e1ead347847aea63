import BasculeConfig
import Testing

/// Services on one address, each given as its extra members ("" for none).
private func shared(_ members: [String], listen: String = "127.0.0.1:8443", top: String = "") -> String {
    let entries = members.enumerated().map { index, extra in
        #"{ "name": "s\#(index)", "listen": "\#(listen)"\#(extra.isEmpty ? "" : ", " + extra), "backends": [ { "name": "a", "address": "127.0.0.1:\#(9001 + index)" } ] }"#
    }
    return "{ \(top.isEmpty ? "" : top + ",") \"services\": [ \(entries.joined(separator: ", ")) ] }"
}

@Suite struct ServerNameConfigTests {
    @Test func servicesRoutingByNameMayShareAnAddressWithOneDefault() throws {
        let config = try #require(parse(shared([#""serverNames": ["WWW.example.com", "*.example.com"], "alpn": ["h2"]"#,
                                                #""serverNames": ["api.example.com"]"#,
                                                #""acceptNonTLS": true"#])).value)
        #expect(config.services.map(\.serverNames) == [["www.example.com", "*.example.com"], ["api.example.com"], []])
        #expect(config.services[0].alpn == ["h2"])
        #expect(config.services[2].acceptNonTLS)
        #expect(config.clientHello == ClientHelloSettings(timeoutMs: 5000, maxBytes: 16384))
        #expect(config.summary(resolvedWorkers: 1).contains("TLS server names www.example.com *.example.com (ALPN h2)"))
    }

    @Test func twoServicesWithoutServerNamesStillCannotShareAnAddress() {
        #expect(errors(shared(["", ""])) == [ConfigError(path: "services[1].listen",
                                                         message: "127.0.0.1:8443 is already used by services[0] (s0)")])
    }

    @Test func aSecondDefaultRouteIsRefusedNamingTheFirst() {
        #expect(messages(shared([#""serverNames": ["a.example.com"]"#, "", ""]), at: "services[2].listen")
                    == ["127.0.0.1:8443 already has a default route, services[1] (s1) (of the services sharing an address, only one may omit serverNames)"])
    }

    @Test func sharingNeedsTheSameAddressNotJustThePort() {
        let wildcardAndSpecific = #"{ "services": [ { "name": "s0", "listen": "0.0.0.0:8443", "serverNames": ["a.example.com"], "backends": [ { "name": "a", "address": "127.0.0.1:9001" } ] }, { "name": "s1", "listen": "127.0.0.1:8443", "serverNames": ["b.example.com"], "backends": [ { "name": "a", "address": "127.0.0.1:9002" } ] } ] }"#
        #expect(messages(wildcardAndSpecific, at: "services[1].listen") == ["127.0.0.1:8443 is already used by services[0] (s0)"])
    }

    @Test func aNameRoutedTwiceForTheSameProtocolsIsUnreachable() {
        #expect(messages(shared([#""serverNames": ["a.example.com"]"#, #""serverNames": ["b.example.com", "A.example.com"]"#]),
                         at: "services[1].serverNames[1]")
                    == [#""a.example.com" is already routed by services[0] (s0) on 127.0.0.1:8443: this route could never be reached"#])
        #expect(messages(shared([#""serverNames": ["a.example.com"], "alpn": ["h2", "http/1.1"]"#,
                                 #""serverNames": ["a.example.com"], "alpn": ["h2"]"#]), at: "services[1].serverNames[0]")
                    == [#""a.example.com" is already routed for ALPN "h2" by services[0] (s0) on 127.0.0.1:8443: this route could never be reached"#])
        // The same name for different protocols, or with and without ALPN, are both reachable.
        #expect(errors(shared([#""serverNames": ["a.example.com"], "alpn": ["h2"]"#,
                               #""serverNames": ["a.example.com"], "alpn": ["http/1.1"]"#,
                               #""serverNames": ["a.example.com"]"#])).isEmpty)
    }

    @Test func serverNamesMustBeHostNamesOrOneLabelWildcards() {
        let bad = shared([#""serverNames": ["*", "*.com", "a.*.example.com", "bad name.example", "a..b", "ok.example", "OK.example"]"#])
        #expect(errors(bad).map(\.path) == (0...4).map { "services[0].serverNames[\($0)]" } + ["services[0].serverNames[6]"])
        #expect(messages(bad, at: "services[0].serverNames[6]") == [#""OK.example" is already listed at serverNames[5]"#])
        #expect(messages(shared([#""serverNames": []"#]), at: "services[0].serverNames")
                    == ["empty list (omit serverNames to make this the address's default route)"])
    }

    @Test func alpnNeedsServerNamesAndAcceptNonTLSNeedsToBeTheDefault() {
        #expect(messages(shared([#""alpn": ["h2"]"#]), at: "services[0].alpn")
                    == ["needs serverNames (the default route takes every protocol)"])
        #expect(messages(shared([#""serverNames": ["a.example.com"], "acceptNonTLS": true"#]), at: "services[0].acceptNonTLS")
                    == ["only the default route (the service without serverNames) can take non-TLS connections"])
    }

    @Test func servicesSharingAnAddressAgreeOnAcceptingPROXY() {
        #expect(messages(shared([#""serverNames": ["a.example.com"], "acceptProxyProtocol": true"#, ""]),
                         at: "services[1].acceptProxyProtocol")
                    == ["must match services[0] (s0), which shares 127.0.0.1:8443: the PROXY header is read before the ClientHello picks a service"])
    }

    @Test func clientHelloBoundsAreReadAndRangeChecked() throws {
        let config = try #require(parse(shared([#""serverNames": ["a.example.com"]"#],
                                               top: #""clientHello": { "timeoutMs": 800, "maxBytes": 4096 }"#)).value)
        #expect(config.clientHello == ClientHelloSettings(timeoutMs: 800, maxBytes: 4096))
        #expect(errors(shared([""], top: #""clientHello": { "maxBytes": 100, "deadline": 1 }"#)).map(\.path).sorted()
                    == ["clientHello.deadline", "clientHello.maxBytes"])
    }
}
