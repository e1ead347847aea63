import BasculeConfig
import Testing

/// One XDP service on lo (the one interface every host has), given its extra members.
private func xdpService(_ extra: String = "", listen: String = "192.0.2.10:80",
                        backends: String = #"{"name": "b1", "address": "198.51.100.6:80"}, {"name": "b2", "address": "198.51.100.10:80"}"#) -> String {
    #"{"services": [{"name": "web", "listen": "\#(listen)", "dataPlane": "xdp", "interface": "lo"\#(extra.isEmpty ? "" : ", " + extra), "backends": [\#(backends)]}]}"#
}

@Suite struct XDPConfigTests {
    @Test func anXDPServiceDefaultsToMaglevNativeModeAndTCP() throws {
        let config = try #require(parse(xdpService()).value)
        let service = config.services[0]
        #expect(service.xdp == XDPSettings(interface: "lo", mode: .native, source: nil, protocols: ["tcp"]))
        #expect(service.strategy == "maglev")
        #expect(service.affinity == .single)
        #expect(config.summary(resolvedWorkers: 1).contains(
            "kernel data plane: XDP on lo (native), tcp, IP-in-IP from the interface's address to the backends, which reply directly"))
    }

    @Test func modeSourceAndProtocolsAreRead() throws {
        let config = try #require(parse(xdpService(#""xdpMode": "generic", "xdpSource": "198.51.100.2", "protocols": ["udp", "tcp"]"#)).value)
        #expect(config.services[0].xdp == XDPSettings(interface: "lo", mode: .generic, source: IPAddress("198.51.100.2"),
                                                      protocols: ["udp", "tcp"]))
    }

    @Test func optionsThatNeedTheProxyAreRefusedNamingTheirField() {
        let options = [#""serverNames": ["a.example.com"]"#: "serverNames", #""proxyProtocol": "v2""#: "proxyProtocol",
                       #""acceptProxyProtocol": true"#: "acceptProxyProtocol", #""allow": ["203.0.113.0/24"]"#: "allow",
                       #""deny": ["203.0.113.0/24"]"#: "deny", #""maxConnections": 10"#: "maxConnections",
                       #""maxConnectionsPerClient": 2"#: "maxConnectionsPerClient"]
        for (member, field) in options {
            let found = messages(xdpService(member), at: "services[0].\(field)")
            #expect(found.count == 1 && found[0].hasPrefix("not possible with \"dataPlane\": \"xdp\""), "\(field): \(found)")
        }
    }

    @Test func aStrategyOtherThanMaglevIsRefused() {
        #expect(messages(xdpService(#""strategy": "round-robin""#), at: "services[0].strategy")
                    == ["\"dataPlane\": \"xdp\" places flows by a Maglev table in the kernel: use \"maglev\" (or leave strategy out)"])
    }

    @Test func anUnknownInterfaceIsRefused() {
        let text = xdpService().replacingOccurrences(of: #""interface": "lo""#, with: #""interface": "nosuch-if0""#)
        #expect(messages(text, at: "services[0].interface") == ["no network interface \"nosuch-if0\" on this host"])
        let missing = xdpService().replacingOccurrences(of: #", "interface": "lo""#, with: "")
        #expect(messages(missing, at: "services[0].interface").first?.hasPrefix("missing") == true)
    }

    @Test func backendsOfAnotherFamilyOrPortAreRefused() {
        let mixed = xdpService(backends: #"{"name": "b1", "address": "[2001:db8:11::2]:80"}"#)
        #expect(messages(mixed, at: "services[0].backends[0].address").first?.contains("not of the listen address's family") == true)
        let otherPort = xdpService(backends: #"{"name": "b1", "address": "198.51.100.6:8080"}"#)
        #expect(messages(otherPort, at: "services[0].backends[0].address").first?.contains("differs from the listen port 80") == true)
        #expect(messages(xdpService(#""xdpSource": "2001:db8:1::2""#), at: "services[0].xdpSource").first?
                    .contains("not of the listen address's family") == true)
    }

    @Test func aWildcardOrLoopbackVirtualAddressIsRefused() {
        for listen in ["0.0.0.0:80", "127.0.0.1:80"] {
            #expect(messages(xdpService(listen: listen), at: "services[0].listen").first?
                        .contains("matches packets by the virtual address and port itself") == true, "\(listen)")
        }
    }

    @Test func xdpSettingsOnAProxiedServiceAreRefused() {
        let text = #"{"services": [{"name": "web", "listen": "127.0.0.1:8080", "interface": "lo", "protocols": ["udp"], "backends": [{"name": "b1", "address": "127.0.0.1:9001"}]}]}"#
        #expect(messages(text, at: "services[0].interface") == ["only for \"dataPlane\": \"xdp\""])
        #expect(messages(text, at: "services[0].protocols") == ["only for \"dataPlane\": \"xdp\""])
    }

    @Test func unknownProtocolsAndModesAreRefused() {
        #expect(messages(xdpService(#""protocols": ["sctp"]"#), at: "services[0].protocols[0]")
                    == ["expected \"tcp\" or \"udp\" (each once), got string \"sctp\""])
        #expect(messages(xdpService(#""xdpMode": "offload""#), at: "services[0].xdpMode")
                    == ["unknown XDP mode \"offload\" (known: native, generic)"])
        #expect(messages(xdpService().replacingOccurrences(of: #""dataPlane": "xdp""#, with: #""dataPlane": "dpdk""#),
                         at: "services[0].dataPlane") == ["unknown data plane \"dpdk\" (known: proxy, xdp)"])
    }

    @Test func aBackendAddedAtRuntimeObeysTheSameRules() throws {
        let service = try #require(parse(xdpService()).value).services[0]
        let wrongPort = RuntimeBackendValidation.backend(json: Array(#"{"name": "b9", "address": "198.51.100.9:8080"}"#.utf8),
                                                          service: service, takenNames: ["b1", "b2"])
        func lines(_ result: Result<BackendConfig, ConfigErrors>) -> [String] {
            guard case .failure(let errors) = result else { return [] }
            return errors.errors.map { "\($0.path): \($0.message)" }
        }
        #expect(lines(wrongPort).first?.hasPrefix("$.address: port 8080 differs from the listen port 80") == true, "\(lines(wrongPort))")
        let fine = RuntimeBackendValidation.backend(json: Array(#"{"name": "b9", "address": "198.51.100.9:80"}"#.utf8),
                                                     service: service, takenNames: ["b1", "b2"])
        #expect(lines(fine).isEmpty)
    }
}
