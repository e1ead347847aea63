import Testing
@testable import BasculeConfig

@Suite struct ConfigValidationTests {
    // MARK: Keys and types

    @Test func unknownKeyIsReportedWithItsPathAndSuggestion() {
        #expect(errors(document(service: #""stratgy": "random""#))
                    == [ConfigError(path: "services[0].stratgy", message: #"unknown key (did you mean "strategy"?)"#)])
        #expect(messages(document(top: #""service": []"#), at: "service") == [#"unknown key (did you mean "services"?)"#])
        #expect(messages(document(top: #""defaults": {"connect_timeout_ms": 5}"#), at: "defaults.connect_timeout_ms")
                    == [#"unknown key (did you mean "connectTimeoutMs"?)"#])
        #expect(messages(document(service: #""healthCheck": {"intervalMS": 5}"#), at: "services[0].healthCheck.intervalMS")
                    == [#"unknown key (did you mean "intervalMs"?)"#])
    }

    @Test func unknownKeyWithNothingCloseListsTheKnownKeys() {
        #expect(messages(document(top: #""admin": {"colour": "blue"}"#), at: "admin.colour")
                    == ["unknown key (known keys: listen, token)"])
    }

    @Test func unknownKeysThatAreNotIdentifiersAreBracketedInThePath() {
        #expect(errors(document(backend: #""max conns": 3"#)).map(\.path) == [#"services[0].backends[0]["max conns"]"#])
    }

    @Test func wrongTypesSayWhatWasExpectedAndWhatWasFound() {
        let json = document(serviceMembers: #"""
            "name": "web", "listen": "127.0.0.1:8080", "acceptProxyProtocol": "true",
            "backends": [ { "name": "a", "address": "127.0.0.1:9001" },
                          { "name": "b", "address": "127.0.0.1:9002", "weight": "2", "backup": 1 },
                          { "name": "c", "address": 9003, "weight": 2.5 } ]
            """#)
        #expect(errors(json) == [
            ConfigError(path: "services[0].acceptProxyProtocol", message: #"expected true or false, got string "true""#),
            ConfigError(path: "services[0].backends[1].weight", message: #"expected an integer, got string "2""#),
            ConfigError(path: "services[0].backends[1].backup", message: "expected true or false, got number 1"),
            ConfigError(path: "services[0].backends[2].address", message: "expected a string, got number 9003"),
            ConfigError(path: "services[0].backends[2].weight", message: "expected an integer, got number 2.5"),
        ])
    }

    @Test func theDocumentMustBeAnObject() {
        #expect(errors("[1, 2]") == [ConfigError(path: "$", message: "expected an object, got an array")])
        #expect(errors(#""services""#) == [ConfigError(path: "$", message: #"expected an object, got string "services""#)])
    }

    @Test func aHugeIntegerIsReportedNotTruncated() {
        #expect(messages(document(top: #""workers": 123456789012345678901234567890"#), at: "workers")
                    == ["123456789012345678901234567890 is too large"])
    }

    // MARK: Top level

    @Test(arguments: [
        (#""workers": 2000"#, "workers", "must be between 0 and 1024, got 2000"),
        (#""workers": -1"#, "workers", "must be between 0 and 1024, got -1"),
        (#""admin": {"token": 7}"#, "admin.token", "expected a string, got number 7"),
        (#""admin": "127.0.0.1:9000""#, "admin", #"expected an object, got string "127.0.0.1:9000""#),
        (#""admin": {"listen": "localhost:9000"}"#, "admin.listen",
         #""localhost:9000" is not an IP address (write an IPv4 literal or [IPv6]:port)"#),
        (#""defaults": {"connectTimeoutMs": 0}"#, "defaults.connectTimeoutMs", "must be greater than 0, got 0"),
        (#""defaults": {"idleTimeoutMs": -5}"#, "defaults.idleTimeoutMs", "must be greater than 0, got -5"),
        (#""defaults": {"retries": 11}"#, "defaults.retries", "must be between 0 and 10, got 11"),
        (#""defaults": {"drainTimeoutMs": -1}"#, "defaults.drainTimeoutMs", "must be 0 or more, got -1"),
    ])
    func topLevelSettingsAreRangeChecked(top: String, path: String, message: String) {
        #expect(errors(document(top: top)) == [ConfigError(path: path, message: message)])
    }

    @Test func zeroDrainTimeoutAndZeroRetriesAreAllowed() throws {
        let config = try parse(document(top: #""defaults": {"drainTimeoutMs": 0, "retries": 0}, "workers": 1024"#)).get()
        #expect(config.defaults.drainTimeoutMs == 0)
        #expect(config.defaults.retries == 0)
        #expect(config.workers == 1024)
    }

    @Test func aConfigWithoutServicesIsRejected() {
        #expect(errors("{}") == [ConfigError(path: "services", message: "missing (a config needs at least one service)")])
        #expect(errors(#"{"services": []}"#)
                    == [ConfigError(path: "services", message: "empty service list (a config needs at least one service)")])
        #expect(errors(#"{"services": {}}"#) == [ConfigError(path: "services", message: "expected an array, got an object")])
    }

    // MARK: Services

    @Test func serviceNamesAreRequiredValidAndUnique() {
        let json = #"""
        { "services": [
            { "listen": "127.0.0.1:8001", "backends": [ { "name": "a", "address": "127.0.0.1:9001" } ] },
            { "name": "web app", "listen": "127.0.0.1:8002", "backends": [ { "name": "a", "address": "127.0.0.1:9001" } ] },
            { "name": "web", "listen": "127.0.0.1:8003", "backends": [ { "name": "a", "address": "127.0.0.1:9001" } ] },
            { "name": "web", "listen": "127.0.0.1:8004", "backends": [ { "name": "a", "address": "127.0.0.1:9001" } ] }
        ] }
        """#
        #expect(errors(json) == [
            ConfigError(path: "services[0].name", message: "missing (every service needs a name)"),
            ConfigError(path: "services[1].name", message: #""web app" is not a valid name (use letters, digits, '_', '.' and '-')"#),
            ConfigError(path: "services[3].name", message: #""web" is already used by services[2]"#),
        ])
    }

    @Test func listenAndBackendsAreRequired() {
        #expect(errors(document(serviceMembers: #""name": "web""#)) == [
            ConfigError(path: "services[0].listen", message: "missing (every service needs a listen address)"),
            ConfigError(path: "services[0].backends", message: "missing (a service needs at least one backend)"),
        ])
    }

    @Test func unknownStrategyListsTheKnownOnes() {
        #expect(messages(document(service: #""strategy": "fastest""#), at: "services[0].strategy") == [
            #"unknown strategy "fastest" (known: round-robin, weighted-round-robin, least-connections, random, power-of-two, source-hash, maglev)"#,
        ])
    }

    @Test func strategiesAreWhateverTheCallerKnows() {
        let result = ConfigLoader.parse(Array(document(service: #""strategy": "custom""#).utf8), knownStrategies: ["custom"])
        #expect(result.value?.services.first?.strategy == "custom")
        let defaulted = ConfigLoader.parse(Array(document().utf8), knownStrategies: ["custom"])
        #expect(defaulted.value == nil, "the default round-robin must be known too")
    }

    @Test func affinityDefaultsToTheClientAddressForStrategiesThatHashIt() throws {
        for strategy in ["source-hash", "maglev"] {
            let defaulted = try #require(parse(document(service: "\"strategy\": \"\(strategy)\"")).value)
            #expect(defaulted.services[0].affinity == .single, "\(strategy)")
            #expect(messages(document(service: "\"strategy\": \"\(strategy)\", \"affinity\": \"none\""), at: "services[0].affinity")
                        == ["\(strategy) places clients by their address: use \"single\" or \"network\", not \"none\""])
        }
        let roundRobin = try #require(parse(document(service: #""strategy": "round-robin""#)).value)
        #expect(roundRobin.services[0].affinity == Affinity.none)
        #expect(messages(document(service: #""affinity": "sticky""#), at: "services[0].affinity")
                    == [#"unknown affinity "sticky" (known: none, single, network)"#])
    }

    @Test(arguments: [
        (#""connectTimeoutMs": 0"#, "services[0].connectTimeoutMs", "must be greater than 0, got 0"),
        (#""idleTimeoutMs": 0"#, "services[0].idleTimeoutMs", "must be greater than 0, got 0"),
        (#""retries": 20"#, "services[0].retries", "must be between 0 and 10, got 20"),
        (#""drainTimeoutMs": -1"#, "services[0].drainTimeoutMs", "must be 0 or more, got -1"),
        (#""maxConnections": 0"#, "services[0].maxConnections", "must be greater than 0, got 0"),
        (#""slowStartMs": -100"#, "services[0].slowStartMs", "must be 0 or more, got -100"),
        (#""proxyProtocol": "v3""#, "services[0].proxyProtocol", #"unknown PROXY protocol version "v3" (known: v1, v2)"#),
        (#""allow": "198.0.0.0/8""#, "services[0].allow", #"expected an array, got string "198.0.0.0/8""#),
        (#""healthCheck": "http""#, "services[0].healthCheck", #"expected an object, got string "http""#),
    ])
    func serviceSettingsAreChecked(service: String, path: String, message: String) {
        #expect(errors(document(service: service)) == [ConfigError(path: path, message: message)])
    }

    @Test func everyBadCIDRInAListIsReportedAtItsIndex() {
        let json = document(service: #"""
            "allow": ["192.0.2.0/24", "2001:db8::/32", "192.0.2.0/33", "2001:db8::/129", "198.0.0.1/8", "db/8", 42]
            """#)
        #expect(errors(json) == [
            ConfigError(path: "services[0].allow[2]", message: #""192.0.2.0/33" is not a valid CIDR (prefix must be 0...32)"#),
            ConfigError(path: "services[0].allow[3]", message: #""2001:db8::/129" is not a valid CIDR (prefix must be 0...128)"#),
            ConfigError(path: "services[0].allow[4]", message: #""198.0.0.1/8" is not a valid CIDR (host bits are set; did you mean 198.0.0.0/8?)"#),
            ConfigError(path: "services[0].allow[5]", message: #""db/8" is not a valid CIDR ("db" is not an IP address)"#),
            ConfigError(path: "services[0].allow[6]", message: "expected a CIDR string, got number 42"),
        ])
    }

    // MARK: Endpoints

    @Test(arguments: [
        ("198.0.0.1", #""198.0.0.1" has no port"#),
        ("198.0.0.1:", #""198.0.0.1:" has no port"#),
        ("198.0.0.1:0", #""198.0.0.1:0" has port 0, out of range (must be 1...65535)"#),
        ("198.0.0.1:65536", #""198.0.0.1:65536" has port 65536, out of range (must be 1...65535)"#),
        ("198.0.0.1:99999999999999999999999", #""198.0.0.1:99999999999999999999999" has port 99999999999999999999999, out of range (must be 1...65535)"#),
        ("198.0.0.1:http", #""198.0.0.1:http" has an invalid port "http" (must be 1...65535)"#),
        ("198.0.0.1:-80", #""198.0.0.1:-80" has an invalid port "-80" (must be 1...65535)"#),
        ("10.0.0:80", #""10.0.0:80" is neither an IP address nor a host name: the last label is all digits (a mistyped IPv4 address?) (write an IPv4 literal, [IPv6]:port, or a host name and a port)"#),
        ("198.0.0.256:80", #""198.0.0.256:80" is neither an IP address nor a host name: the last label is all digits (a mistyped IPv4 address?) (write an IPv4 literal, [IPv6]:port, or a host name and a port)"#),
        ("", #""" is neither an IP address nor a host name: an empty host name (write an IPv4 literal, [IPv6]:port, or a host name and a port)"#),
        ("::1", #""::1" is an IPv6 address without brackets (write [IPv6]:port, e.g. [::1]:8080)"#),
        ("2001:db8::1:80", #""2001:db8::1:80" is an IPv6 address without brackets (write [IPv6]:port, e.g. [::1]:8080)"#),
        ("[::1]", #""[::1]" has no port"#),
        ("[::1", #""[::1" has no closing ']'"#),
        ("[::1]80", #""[::1]80" has unexpected text after ']' (write [IPv6]:port)"#),
        ("[198.0.0.1]:80", #""[198.0.0.1]:80" is not an IP address (write an IPv4 literal or [IPv6]:port)"#),
        ("[fe80::1%eth0]:80", #""[fe80::1%eth0]:80" is not an IP address (write an IPv4 literal or [IPv6]:port)"#),
        ("198.0.0.1\u{0}:80", #""198.0.0.1\u0000:80" is neither an IP address nor a host name: label "1\u0000" has a character other than letters, digits and '-' (write an IPv4 literal, [IPv6]:port, or a host name and a port)"#),
    ])
    func badAddressesSayWhatIsWrong(address: String, message: String) {
        let escaped = address.replacing("\u{0}", with: "\\u0000")
        let json = document(serviceMembers: #"""
            "name": "web", "listen": "127.0.0.1:8080",
            "backends": [ { "name": "a", "address": "127.0.0.1:9001" }, { "name": "b", "address": "\#(escaped)" } ]
            """#)
        #expect(errors(json) == [ConfigError(path: "services[0].backends[1].address", message: message)])
    }

    @Test func endpointParsingIsAvailableForCommandLineFlags() {
        #expect(Endpoint(parsing: "127.0.0.1:8080") == Endpoint(host: "127.0.0.1", port: 8080))
        #expect(Endpoint(parsing: "[::1]:65535") == Endpoint(host: "::1", port: 65535))
        #expect(Endpoint(parsing: "localhost:8080") == nil)
    }

    // MARK: Listen collisions

    private func services(_ listens: [String], admin: String? = nil) -> String {
        let entries = listens.enumerated().map { index, listen in
            #"{ "name": "s\#(index)", "listen": "\#(listen)", "backends": [ { "name": "a", "address": "127.0.0.1:9001" } ] }"#
        }
        let adminMember = admin.map { #""admin": { "listen": "\#($0)" }, "# } ?? ""
        return "{ \(adminMember)\"services\": [ \(entries.joined(separator: ", ")) ] }"
    }

    @Test func twoServicesOnTheSameAddressAreRejectedOnTheLaterOne() {
        #expect(errors(services(["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8081"]))
                    == [ConfigError(path: "services[2].listen", message: "127.0.0.1:8081 is already used by services[0] (s0)")])
    }

    @Test func aWildcardListenCollidesWithAnyAddressOnTheSamePort() {
        #expect(messages(services(["127.0.0.1:8081", "0.0.0.0:8081"]), at: "services[1].listen")
                    == ["0.0.0.0:8081 is already used by services[0] (s0)"])
        #expect(messages(services(["[::]:8081", "198.1.2.3:8081"]), at: "services[1].listen")
                    == ["198.1.2.3:8081 is already used by services[0] (s0)"])
        #expect(errors(services(["0.0.0.0:8081", "0.0.0.0:8082", "127.0.0.1:8083"])).isEmpty)
        #expect(errors(services(["127.0.0.1:8081", "127.0.0.2:8081"])).isEmpty)
    }

    @Test func ipv6ListenAddressesAreComparedByValueNotSpelling() {
        #expect(messages(services(["[::1]:8081", "[0:0::0:1]:8081"]), at: "services[1].listen")
                    == ["[0:0::0:1]:8081 is already used by services[0] (s0)"])
    }

    @Test func everySpellingOfAnAddressIsTheSameListenAddress() {
        // IPv4-mapped IPv6 is the IPv4 address it spells, specific or wildcard.
        #expect(messages(services(["127.0.0.1:8081", "[::ffff:127.0.0.1]:8081"]), at: "services[1].listen")
                    == ["[::ffff:127.0.0.1]:8081 is already used by services[0] (s0)"])
        #expect(messages(services(["[::ffff:0.0.0.0]:8081", "127.0.0.1:8081"]), at: "services[1].listen")
                    == ["127.0.0.1:8081 is already used by services[0] (s0)"])
        // "::" is bound dual-stack, so it covers 0.0.0.0 too; 0.0.0.0 covers no IPv6 address.
        #expect(messages(services(["0.0.0.0:8081", "[::]:8081"]), at: "services[1].listen")
                    == ["[::]:8081 is already used by services[0] (s0)"])
        #expect(errors(services(["0.0.0.0:8081", "[::1]:8081"])).isEmpty)
        #expect(errors(services(["[::ffff:127.0.0.2]:8081", "127.0.0.1:8081"])).isEmpty)
    }

    @Test func theAdminAddressMustNotCollideWithAService() {
        #expect(errors(services(["127.0.0.1:8081"], admin: "127.0.0.1:8081"))
                    == [ConfigError(path: "admin.listen", message: "127.0.0.1:8081 is already used by services[0] (s0)")])
        #expect(errors(services(["0.0.0.0:9000"]))
                    == [ConfigError(path: "admin.listen",
                                    message: "127.0.0.1:9000 is already used by services[0] (s0) (the default admin address; set admin.listen)")])
        #expect(errors(services(["0.0.0.0:9000"], admin: "127.0.0.1:80800")).map(\.description)
                    == [#"admin.listen: "127.0.0.1:80800" has port 80800, out of range (must be 1...65535)"#],
                "a bad admin address is not also blamed for the default's collision")
    }

    // MARK: Backends

    @Test func backendsAreCheckedForNameAddressAndUniqueness() {
        let json = document(serviceMembers: #"""
            "name": "web", "listen": "127.0.0.1:8080",
            "backends": [ { "name": "a", "address": "127.0.0.1:9001" },
                          { "address": "127.0.0.1:9002" },
                          { "name": "a", "address": "127.0.0.1:9003" },
                          { "name": "c" },
                          { "name": "d/e", "address": "127.0.0.1:9004" },
                          "f" ]
            """#)
        #expect(errors(json) == [
            ConfigError(path: "services[0].backends[1].name", message: "missing (every backend needs a name)"),
            ConfigError(path: "services[0].backends[2].name", message: #""a" is already used by backends[0] of this service"#),
            ConfigError(path: "services[0].backends[3].address", message: "missing (every backend needs an address)"),
            ConfigError(path: "services[0].backends[4].name", message: #""d/e" is not a valid name (use letters, digits, '_', '.' and '-')"#),
            ConfigError(path: "services[0].backends[5]", message: #"expected an object, got string "f""#),
        ])
    }

    @Test(arguments: [
        (#""weight": 0"#, "services[0].backends[0].weight", "must be between 1 and 1000, got 0"),
        (#""weight": 1001"#, "services[0].backends[0].weight", "must be between 1 and 1000, got 1001"),
        (#""maxConnections": 0"#, "services[0].backends[0].maxConnections", "must be greater than 0, got 0"),
        (#""backup": "yes""#, "services[0].backends[0].backup", #"expected true or false, got string "yes""#),
    ])
    func backendSettingsAreChecked(backend: String, path: String, message: String) {
        #expect(errors(document(backend: backend)) == [ConfigError(path: path, message: message)])
    }

    @Test func anEmptyBackendListIsRejected() {
        let json = #"""
        { "services": [
            { "name": "a", "listen": "127.0.0.1:8001", "backends": [ { "name": "x", "address": "127.0.0.1:9001" } ] },
            { "name": "b", "listen": "127.0.0.1:8002", "backends": [] }
        ] }
        """#
        #expect(errors(json) == [ConfigError(path: "services[1].backends",
                                             message: "empty backend list (a service needs at least one backend)")])
    }

    @Test func aServiceWithOnlyBackupBackendsIsRejected() {
        #expect(errors(document(backend: #""backup": true"#)) == [
            ConfigError(path: "services[0].backends",
                        message: #"every backend is a backup (a service needs at least one primary: no "backup": true, tier 0)"#),
        ])
    }

    // MARK: Health checks

    @Test(arguments: [
        (#""type": "icmp""#, "services[0].healthCheck.type", #"unknown health check type "icmp" (known: tcp, http, https, none)"#),
        (#""path": "health""#, "services[0].healthCheck.path", #""health" must start with "/""#),
        (#""expectStatus": []"#, "services[0].healthCheck.expectStatus", "empty list (expect at least one status code)"),
        (#""expectStatus": 200"#, "services[0].healthCheck.expectStatus", "expected an array, got number 200"),
        (#""expectStatus": [200, 99, 600, "204"]"#, "services[0].healthCheck.expectStatus[1]", "must be between 100 and 599, got 99"),
        (#""expectBody": true"#, "services[0].healthCheck.expectBody", "expected a string, got boolean true"),
        (#""intervalMs": 0"#, "services[0].healthCheck.intervalMs", "must be greater than 0, got 0"),
        (#""intervalMs": 500"#, "services[0].healthCheck.intervalMs", "500 is shorter than the default timeoutMs (1000); set timeoutMs too"),
        (#""timeoutMs": 0"#, "services[0].healthCheck.timeoutMs", "must be greater than 0, got 0"),
        (#""intervalMs": 1000, "timeoutMs": 1500"#, "services[0].healthCheck.timeoutMs", "1500 is longer than intervalMs (1000)"),
        (#""rise": 0"#, "services[0].healthCheck.rise", "must be greater than 0, got 0"),
        (#""fall": 0"#, "services[0].healthCheck.fall", "must be greater than 0, got 0"),
        (#""verify": "no""#, "services[0].healthCheck.verify", #"expected true or false, got string "no""#),
        (#""caFile": "/nonexistent/ca.pem""#, "services[0].healthCheck.caFile", #""/nonexistent/ca.pem" cannot be read: No such file or directory"#),
        (#""serverName": 5"#, "services[0].healthCheck.serverName", "expected a string, got number 5"),
    ])
    func healthCheckSettingsAreChecked(healthCheck: String, path: String, message: String) {
        let found = errors(document(service: #""healthCheck": { \#(healthCheck) }"#))
        #expect(found.first == ConfigError(path: path, message: message))
    }

    @Test func everyBadStatusCodeIsReported() {
        let found = errors(document(service: #""healthCheck": { "expectStatus": [200, 99, 600, "204"] }"#))
        #expect(found.map(\.path) == ["services[0].healthCheck.expectStatus[1]", "services[0].healthCheck.expectStatus[2]",
                                      "services[0].healthCheck.expectStatus[3]"])
        #expect(found.last?.message == #"expected an integer, got string "204""#)
    }

    @Test func aBadIntervalDoesNotAlsoBlameTheTimeout() {
        #expect(errors(document(service: #""healthCheck": { "intervalMs": -1, "timeoutMs": 5000 }"#)).map(\.path)
                    == ["services[0].healthCheck.intervalMs"])
    }

    // MARK: Many errors

    @Test func everyErrorInTheFileIsReportedInOnePass() {
        let json = #"""
        {
          "workers": -3,
          "admin": { "listen": "127.0.0.1" },
          "defaults": { "retries": 99 },
          "services": [
            { "name": "publishing", "listen": "127.0.0.1:8081", "stratgy": "random",
              "healthCheck": { "type": "http", "path": "health" },
              "backends": [ { "name": "pub1", "address": "127.0.0.1:9101", "weight": "2" } ] },
            { "name": "reporting", "listen": "127.0.0.1:8081", "backends": [] },
            { "name": "management", "listen": "127.0.0.1:8082", "strategy": "fastest",
              "backends": [ { "name": "m1", "address": "198.0.0.1" } ] }
          ]
        }
        """#
        let found = errors(json)
        #expect(found.map(\.description) == [
            "workers: must be between 0 and 1024, got -3",
            #"admin.listen: "127.0.0.1" has no port"#,
            "defaults.retries: must be between 0 and 10, got 99",
            #"services[0].stratgy: unknown key (did you mean "strategy"?)"#,
            #"services[0].healthCheck.path: "health" must start with "/""#,
            #"services[0].backends[0].weight: expected an integer, got string "2""#,
            "services[1].listen: 127.0.0.1:8081 is already used by services[0] (publishing)",
            "services[1].backends: empty backend list (a service needs at least one backend)",
            #"services[2].strategy: unknown strategy "fastest" (known: round-robin, weighted-round-robin, least-connections, random, power-of-two, source-hash, maglev)"#,
            #"services[2].backends[0].address: "198.0.0.1" has no port"#,
        ])
    }
}

@Suite struct CIDRBlockTests {
    @Test func blocksMatchAddressesOfTheirOwnFamilyOnly() throws {
        let v4 = try #require(CIDRBlock("192.0.2.0/24"))
        #expect(v4.contains([192, 0, 2, 77]))
        #expect(!v4.contains([192, 0, 3, 1]))
        #expect(!v4.contains([UInt8](repeating: 0, count: 16)))
        let v6 = try #require(CIDRBlock("2001:db8::/32"))
        #expect(v6.contains([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 7, count: 12)))
        #expect(!v6.contains([0x20, 0x01, 0x0d, 0xb9] + [UInt8](repeating: 0, count: 12)))
        let everything = try #require(CIDRBlock("0.0.0.0/0"))
        #expect(everything.contains([203, 0, 113, 9]))
        #expect(CIDRBlock("198.0.0.1/8") == nil)
        #expect(CIDRBlock("192.0.2.1/32")?.description == "192.0.2.1/32")
        #expect(CIDRBlock("2001:0db8:0::/48")?.description == "2001:db8::/48")
    }

    @Test func aBareAddressIsOneHost() throws {
        let v4 = try #require(CIDRBlock("198.0.0.1"))
        #expect(v4.prefixLength == 32)
        #expect(v4.contains([198, 0, 0, 1]))
        #expect(!v4.contains([198, 0, 0, 2]))
        let v6 = try #require(CIDRBlock("2001:db8::7"))
        #expect(v6.prefixLength == 128)
        #expect(v6.description == "2001:db8::7/128")
        #expect(errors(document(service: #""allow": ["198.0.0.1", "2001:db8::7"], "deny": ["192.0.2.66"]"#)).isEmpty)
        let service = try #require(try? parse(document(service: #""deny": ["192.0.2.66"]"#)).get().services.first)
        #expect(service.deny == [CIDRBlock("192.0.2.66/32")!])
    }

    @Test(arguments: ["", "198.0.0.0/33", "2001:db8::/129", "198.0.0.1/8", "2001:db8::1/32", "198.0.0.0/",
                      "198.0.0.0/-1", "198.0.0.0/8/8", "198.0.0.0/ 8", "10.0.0/8", "256.0.0.0/8", " 198.0.0.0/8",
                      "010.0.0.0/8", "example.com", "fe80::1%eth0", "2001:db8:::/48", "[2001:db8::]/32"])
    func malformedBlocksAreRefused(_ entry: String) {
        #expect(CIDRBlock(entry) == nil)
    }

    @Test func ipv6HostBitsSuggestTheNetwork() {
        #expect(messages(document(service: #""deny": ["2001:db8::1/64"]"#), at: "services[0].deny[0]")
                    == [#""2001:db8::1/64" is not a valid CIDR (host bits are set; did you mean 2001:db8::/64?)"#])
    }
}

@Suite struct BackendLoopTests {
    @Test func aBackendThatIsTheServiceItselfIsRejected() {
        #expect(errors(document(serviceMembers: #"""
            "name": "web", "listen": "127.0.0.1:8080", "backends": [ { "name": "me", "address": "127.0.0.1:8080" } ]
            """#)) == [ConfigError(path: "services[0].backends[0].address",
                                   message: "127.0.0.1:8080 is this service's own listen address (connections would loop back into the balancer)")])
        #expect(messages(document(serviceMembers: #"""
            "name": "web", "listen": "[::]:8080", "backends": [ { "name": "me", "address": "[::1]:8080" } ]
            """#), at: "services[0].backends[0].address").count == 1)
    }

    @Test func aRemoteBackendOnTheSamePortAsAWildcardListenIsFine() {
        #expect(errors(document(serviceMembers: #"""
            "name": "web", "listen": "0.0.0.0:80", "backends": [ { "name": "app", "address": "198.0.0.5:80" } ]
            """#)).isEmpty)
    }
}

/// What `bascule check` warns about in a valid file.
@Suite struct ConfigWarningTests {
    @Test func anOpenAdminPortAnUntrustedProxyHeaderAndABackendLoopingToItselfAreWarned() throws {
        let config = try parse(#"""
            { "admin": { "listen": "0.0.0.0:9000" },
              "services": [
                { "name": "api", "listen": "[::]:8081", "backends": [ { "name": "a", "address": "127.0.0.2:7000" } ] },
                { "name": "web", "listen": "0.0.0.0:8080", "acceptProxyProtocol": true,
                  "backends": [ { "name": "self", "address": "127.0.0.1:8081" },
                                { "name": "admin", "address": "[::ffff:127.0.0.1]:9000" },
                                { "name": "fine", "address": "127.0.0.1:8082" } ] } ] }
            """#).get()
        let warnings = config.warnings
        #expect(warnings.count == 4, "\(warnings)")
        #expect(warnings.contains { $0.hasPrefix("admin.listen: 0.0.0.0:9000 is reachable beyond loopback") })
        #expect(warnings.contains { $0.hasPrefix("services[1].acceptProxyProtocol: no trustedProxies") })
        #expect(warnings.contains { $0.hasPrefix("services[1].backends[0].address: 127.0.0.1:8081 is this balancer's own services[0].listen") })
        #expect(warnings.contains { $0.hasPrefix("services[1].backends[1].address") && $0.contains("admin.listen") })

        let quiet = try parse(#"""
            { "admin": { "listen": "0.0.0.0:9000", "token": "s3cret" },
              "services": [
                { "name": "web", "listen": "127.0.0.1:8080", "acceptProxyProtocol": true, "trustedProxies": ["198.51.100.0/24"],
                  "backends": [ { "name": "a", "address": "127.0.0.2:8080" } ] } ] }
            """#).get()
        #expect(quiet.warnings.isEmpty, "\(quiet.warnings)")
    }
}
