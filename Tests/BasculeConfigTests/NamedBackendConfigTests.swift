import Testing
@testable import BasculeConfig

/// Backends given by DNS name (`"address": "db.example:5432"`): RFC 1123 names with a port,
/// kept apart from the IP-literal backends, with the entry's settings for every address.
@Suite struct NamedBackendConfigTests {
    private func twoBackends(_ second: String, first: String = #"{ "name": "a", "address": "127.0.0.1:9001" }"#) -> String {
        document(serviceMembers: #""name": "web", "listen": "127.0.0.1:8080", "backends": [ \#(first), \#(second) ]"#)
    }

    @Test(arguments: ["db.example:5432", "DB.Example.:5432", "localhost:80", "a-b.c-d.example:1", "x1.example:65535",
                      "3com.example:80", "\(String(repeating: "a", count: 63)).example:80"])
    func aHostNameWithAPortIsANamedBackendNotAnError(address: String) throws {
        let configuration = try #require(parse(twoBackends(#"{ "name": "db", "address": "\#(address)", "weight": 7, "tier": 2, "maxConnections": 9 }"#)).value)
        let service = configuration.services[0]
        #expect(service.backends.map(\.name) == ["a"])
        let entry = try #require(service.namedBackends.first)
        let host = String(address[..<address.lastIndex(of: ":")!]).lowercased()
        #expect(entry.host.text == (host.hasSuffix(".") ? String(host.dropLast()) : host))
        #expect(entry.port == UInt16(address[address.index(after: address.lastIndex(of: ":")!)...]))
        let resolved = entry.backend(at: IPAddress("192.0.2.7")!)
        #expect(resolved.name == "db@192.0.2.7")
        #expect(resolved.address == Endpoint(host: "192.0.2.7", port: entry.port))
        #expect(resolved.weight == 7 && resolved.tier == 2 && resolved.maxConnections == 9)
        #expect(entry.backend(at: IPAddress("2001:db8::7")!).address.description == "[2001:db8::7]:\(entry.port)")
        #expect(NamedBackendConfig.origin(of: resolved.name) == "db")
    }

    private static let hint = " (write an IPv4 literal, [IPv6]:port, or a host name and a port)"

    @Test(arguments: [
        ("db.example", #""db.example" has no port (a backend by name needs one: db.example:PORT)"#),
        ("db.example:", #""db.example:" has no port (a backend by name needs one: db.example:PORT)"#),
        ("db.example:0", #""db.example:0" has port 0, out of range (must be 1...65535)"#),
        ("db.example:70000", #""db.example:70000" has port 70000, out of range (must be 1...65535)"#),
        ("db.example:pg", #""db.example:pg" has an invalid port "pg" (must be 1...65535)"#),
        ("-db.example:80", #""-db.example:80" is neither an IP address nor a host name: label "-db" starts or ends with '-'"# + hint),
        ("db-.example:80", #""db-.example:80" is neither an IP address nor a host name: label "db-" starts or ends with '-'"# + hint),
        ("db..example:80", #""db..example:80" is neither an IP address nor a host name: an empty label (two dots in a row, or a leading dot)"# + hint),
        (".example:80", #"".example:80" is neither an IP address nor a host name: an empty label (two dots in a row, or a leading dot)"# + hint),
        ("_sip._tcp.example:80", #""_sip._tcp.example:80" is neither an IP address nor a host name: label "_sip" has a character other than letters, digits and '-'"# + hint),
        ("db example:80", #""db example:80" is neither an IP address nor a host name: label "db example" has a character other than letters, digits and '-'"# + hint),
        ("\(String(repeating: "a", count: 64)).example:80",
         // Long values are shortened in messages, as every quoted value is.
         quotedForMessage("\(String(repeating: "a", count: 64)).example:80") + " is neither an IP address nor a host name: label "
            + quotedForMessage(String(repeating: "a", count: 64)) + " is longer than 63 characters" + hint),
        ("127.1:80", #""127.1:80" is neither an IP address nor a host name: the last label is all digits (a mistyped IPv4 address?)"# + hint),
    ])
    func aBadNameSaysWhatIsWrongWithIt(address: String, message: String) {
        #expect(errors(twoBackends(#"{ "name": "b", "address": "\#(address)" }"#))
                    == [ConfigError(path: "services[0].backends[1].address", message: message)])
    }

    @Test func aNameLongerThan253CharactersIsRefused() {
        let label = String(repeating: "a", count: 60)
        let name = Array(repeating: label, count: 5).joined(separator: ".")
        #expect(messages(twoBackends(#"{ "name": "b", "address": "\#(name):80" }"#), at: "services[0].backends[1].address")
                    == [quotedForMessage("\(name):80") + " is neither an IP address nor a host name: a host name longer than 253 characters" + Self.hint])
    }

    @Test func ipLiteralsAreReadExactlyAsBefore() throws {
        let configuration = try #require(parse(twoBackends(#"{ "name": "b", "address": "[::1]:9002" }"#)).value)
        #expect(configuration.services[0].backends.map(\.address) == [Endpoint(host: "127.0.0.1", port: 9001), Endpoint(host: "::1", port: 9002)])
        #expect(configuration.services[0].namedBackends.isEmpty)
        #expect(messages(twoBackends(#"{ "name": "b", "address": "::1:80" }"#), at: "services[0].backends[1].address")
                    == [#""::1:80" is an IPv6 address without brackets (write [IPv6]:port, e.g. [::1]:8080)"#])
    }

    @Test func aServiceGivenOnlyByNameIsValidAndAListenAddressStaysAnIPLiteral() throws {
        let json = document(serviceMembers: #""name": "web", "listen": "127.0.0.1:8080", "backends": [ { "name": "db", "address": "db.example:5432" } ]"#)
        #expect(try #require(parse(json).value).services[0].namedBackends.map(\.target) == ["db.example:5432"])
        let listenByName = document(serviceMembers: #""name": "web", "listen": "localhost:8080", "backends": [ { "name": "db", "address": "db.example:5432" } ]"#)
        #expect(messages(listenByName, at: "services[0].listen") == [#""localhost:8080" is not an IP address (write an IPv4 literal or [IPv6]:port)"#])
    }

    @Test func namesShareTheBackendNamespaceAndABackupOnlyNameIsStillEveryBackendABackup() {
        #expect(messages(twoBackends(#"{ "name": "a", "address": "db.example:80" }"#), at: "services[0].backends[1].name")
                    == [#""a" is already used by backends[0] of this service"#])
        let allBackups = document(serviceMembers: #"""
            "name": "web", "listen": "127.0.0.1:8080",
            "backends": [ { "name": "a", "address": "127.0.0.1:9001", "backup": true }, { "name": "db", "address": "db.example:80", "tier": 1 } ]
            """#)
        #expect(messages(allBackups, at: "services[0].backends").count == 1)
    }

    @Test func refreshBoundsDefaultToOneSecondAndFiveMinutesAndAreChecked() throws {
        #expect(try #require(parse(document()).value).dns == DNSSettings(minRefreshMs: 1000, maxRefreshMs: 300_000))
        #expect(try #require(parse(document(top: #""dns": {"minRefreshMs": 200, "maxRefreshMs": 5000}"#)).value).dns
                    == DNSSettings(minRefreshMs: 200, maxRefreshMs: 5000))
        // A minimum above the default maximum raises the maximum with it.
        #expect(try #require(parse(document(top: #""dns": {"minRefreshMs": 600000}"#)).value).dns.maxRefreshMs == 600_000)
        #expect(errors(document(top: #""dns": {"minRefreshMs": 5000, "maxRefreshMs": 1000}"#))
                    == [ConfigError(path: "dns.maxRefreshMs", message: "maxRefreshMs 1000 is below minRefreshMs 5000")])
        #expect(messages(document(top: #""dns": {"minRefreshMs": 10}"#), at: "dns.minRefreshMs")
                    == ["must be between 100 and 3600000, got 10"])
        #expect(messages(document(top: #""dns": {"ttl": 10}"#), at: "dns.ttl").count == 1)
    }

    @Test func aKernelPlaneServiceTakesNoName() {
        let json = #"{"services": [{"name": "web", "listen": "192.0.2.10:80", "dataPlane": "xdp", "interface": "lo", "backends": [{"name": "b1", "address": "198.51.100.6:80"}, {"name": "db", "address": "db.example:80"}]}]}"#
        #expect(messages(json, at: "services[0].backends[1].address")
                    == ["db.example is a host name: a kernel-plane (xdp) service takes IP-literal backends only"])
    }

    @Test func theRuntimeAPIRefusesANameWithAReason() {
        let service = parse(document()).value!.services[0]
        let result = RuntimeBackendValidation.backend(json: Array(#"{"name": "db", "address": "db.example:5432"}"#.utf8),
                                                      service: service, takenNames: ["b1"])
        guard case .failure(let failure) = result else {
            Issue.record("a name was accepted at runtime")
            return
        }
        #expect(failure.errors.map(\.path) == ["$.address"])
        #expect(failure.errors.first?.message.contains("given in the file") == true)
    }

    @Test func theSummaryShowsEachNameAndTheRefreshBounds() throws {
        let configuration = try #require(parse(document(serviceMembers: #""name": "web", "listen": "127.0.0.1:8080", "backends": [ { "name": "db", "address": "db.example:5432", "weight": 3 } ]"#,
                                                        top: #""dns": {"minRefreshMs": 2000}"#)).value)
        let summary = configuration.summary(resolvedWorkers: 1)
        #expect(summary.contains("dns: names re-resolved on their TTL, within 2000...300000 ms"))
        #expect(summary.contains("- db  db.example:5432 (DNS name: a backend db@ADDRESS per address)  weight 3"))
    }
}
