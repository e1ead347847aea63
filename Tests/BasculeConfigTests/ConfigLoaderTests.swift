import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import BasculeConfig

@Suite struct ConfigLoaderTests {
    @Test func theRepositoryConfigParsesIntoTheDocumentedValues() throws {
        let config = try parse(designConfig).get()
        #expect(config.workers == 0)
        #expect(config.admin == AdminConfig(listen: Endpoint(host: "127.0.0.1", port: 9000), token: ""))
        #expect(config.defaults == Defaults(connectTimeoutMs: 2000, idleTimeoutMs: 300_000, retries: 2,
                                            drainTimeoutMs: 30_000))
        #expect(config.services.map(\.name) == ["publishing", "management"])

        let publishing = config.services[0]
        #expect(publishing.listen == Endpoint(host: "127.0.0.1", port: 8081))
        #expect(publishing.strategy == "least-connections")
        #expect(publishing.affinity == Affinity.none)
        #expect(publishing.healthCheck == HealthCheckConfig(type: .http, path: "/health", expectStatus: [200],
                                                            intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2))
        #expect(publishing.backends == [
            BackendConfig(name: "pub1", address: Endpoint(host: "127.0.0.1", port: 9101), weight: 1),
            BackendConfig(name: "pub2", address: Endpoint(host: "127.0.0.1", port: 9102), weight: 1),
            BackendConfig(name: "pub3", address: Endpoint(host: "127.0.0.1", port: 9103), weight: 2),
        ])
        #expect(publishing.connectTimeoutMs == 2000)
        #expect(publishing.drainTimeoutMs == 30_000)

        let management = config.services[1]
        #expect(management.strategy == "source-hash")
        #expect(management.affinity == .single, "source-hash without affinity hashes the client address")
        #expect(management.healthCheck.type == .tcp)
        #expect(management.backends.map(\.backup) == [false, true])
        #expect(management.backends.map(\.weight) == [1, 1])
    }

    @Test func aMinimalServiceGetsEveryDefault() throws {
        let config = try parse(document()).get()
        #expect(config.workers == 0)
        #expect(config.admin == AdminConfig())
        #expect(config.defaults == Defaults())
        #expect(config.services == [
            ServiceConfig(name: "web", listen: Endpoint(host: "127.0.0.1", port: 8080),
                          backends: [BackendConfig(name: "b1", address: Endpoint(host: "127.0.0.1", port: 9001))]),
        ])
        #expect(config.services[0].strategy == "round-robin")
        #expect(config.services[0].healthCheck == HealthCheckConfig())
    }

    @Test func serviceOverridesWinOverDefaultsWhichWinOverBuiltIns() throws {
        let json = document(service: #""connectTimeoutMs": 100, "retries": 0"#,
                            top: #""defaults": { "connectTimeoutMs": 700, "idleTimeoutMs": 5000 }"#)
        let service = try #require(parse(json).value?.services.first)
        #expect(service.connectTimeoutMs == 100)
        #expect(service.idleTimeoutMs == 5000)
        #expect(service.retries == 0)
        #expect(service.drainTimeoutMs == Defaults().drainTimeoutMs)
    }

    @Test func everyOptionalServiceSettingIsRead() throws {
        let json = document(service: #"""
            "strategy": "maglev", "affinity": "network", "maxConnections": 500, "proxyProtocol": "v2",
            "acceptProxyProtocol": true, "allow": ["192.0.2.0/24", "2001:db8::/32"], "deny": ["192.0.2.128/25"],
            "slowStartMs": 10000,
            "healthCheck": { "type": "https", "path": "/ready", "expectStatus": [200, 204], "expectBody": "ok",
                             "intervalMs": 3000, "timeoutMs": 3000, "rise": 1, "fall": 5, "verify": false,
                             "caFile": "/dev/null", "serverName": "app.example" }
            """#, backend: #""weight": 1000, "backup": false, "maxConnections": 50, "extra": null"#)
        // "extra": null is still an unknown key.
        #expect(messages(json, at: "services[0].backends[0].extra") == ["unknown key (known keys: name, address, weight, backup, tier, maxConnections, agent, healthCheck)"])
        let valid = json.replacing(#", "extra": null"#, with: "")
        let service = try #require(parse(valid).value?.services.first)
        #expect(service.strategy == "maglev")
        #expect(service.affinity == .network)
        #expect(service.maxConnections == 500)
        #expect(service.proxyProtocol == .v2)
        #expect(service.acceptProxyProtocol)
        #expect(service.allow.map(\.description) == ["192.0.2.0/24", "2001:db8::/32"])
        #expect(service.deny.map(\.description) == ["192.0.2.128/25"])
        #expect(service.slowStartMs == 10000)
        #expect(service.healthCheck == HealthCheckConfig(type: .https, path: "/ready", expectStatus: [200, 204],
                                                         expectBody: "ok", intervalMs: 3000, timeoutMs: 3000,
                                                         rise: 1, fall: 5, verify: false, caFile: "/dev/null",
                                                         serverName: "app.example"))
        #expect(service.backends[0] == BackendConfig(name: "b1", address: Endpoint(host: "127.0.0.1", port: 9001),
                                                     weight: 1000, backup: false, maxConnections: 50))
    }

    @Test func nullMeansUnsetForOptionalSettings() throws {
        let service = try #require(parse(document(service: #""maxConnections": null, "strategy": null"#)).value?.services.first)
        #expect(service.maxConnections == nil)
        #expect(service.strategy == "round-robin")
    }

    @Test func ipv6EndpointsAreAccepted() throws {
        let json = document(serviceMembers: #"""
            "name": "v6", "listen": "[::]:8443",
            "backends": [ { "name": "a", "address": "[2001:db8::10]:443" } ]
            """#, top: #""admin": { "listen": "[::1]:9000", "token": "s3cret" }"#)
        let config = try parse(json).get()
        #expect(config.services[0].listen == Endpoint(host: "::", port: 8443))
        #expect(config.services[0].backends[0].address.description == "[2001:db8::10]:443")
        #expect(config.admin.listen == Endpoint(host: "::1", port: 9000))
        #expect(config.admin.token == "s3cret")
    }

    @Test func anUnreadableFileIsOneErrorNamingTheFileAndTheReason() {
        let result = ConfigLoader.load(path: "/nonexistent/bascule.json", knownStrategies: knownStrategies)
        guard case .failure(let failure) = result else { Issue.record("loaded a missing file"); return }
        #expect(failure.errors == [ConfigError(path: "$", message: #"cannot read "/nonexistent/bascule.json": No such file or directory"#)])

        guard case .failure(let directory) = ConfigLoader.load(path: "/", knownStrategies: knownStrategies) else {
            Issue.record("loaded a directory"); return
        }
        #expect(directory.errors == [ConfigError(path: "$", message: #"cannot read "/": not a regular file but a directory"#)])
    }

    @Test func aFileOnDiskIsLoaded() throws {
        let path = "/tmp/bascule-config-test-\(getpid()).json"
        try writeFile(path, designConfig)
        defer { unlink(path) }
        let config = try ConfigLoader.load(path: path, knownStrategies: knownStrategies).get()
        #expect(config.services.count == 2)
    }

    @Test func aSyntaxErrorIsReportedAsOneErrorWithLineAndColumn() {
        let json = "{\n  \"services\": [\n    { \"name\": \"web\" \"listen\": \"127.0.0.1:80\" }\n  ]\n}"
        #expect(errors(json) == [ConfigError(path: "services[0]",
                                             message: "invalid JSON at line 3, column 21: expected ',' or '}'")])
    }

    @Test func aDuplicateKeyInTheFileIsAnError() {
        let json = document(service: #""strategy": "random", "strategy": "maglev""#)
        let found = errors(json)
        #expect(found.count == 1)
        #expect(found.first?.path == "services[0]")
        #expect(found.first?.message.contains(#"duplicate key "strategy""#) == true)
        #expect(found.first?.message.contains("line 2") == true)
    }

    @Test func errorsPrintAsPathColonMessageOnePerLine() {
        let failure = ConfigErrors([ConfigError(path: "services", message: "a"), ConfigError(path: "$", message: "b")])
        #expect(failure.description == "services: a\n$: b")
        #expect(ConfigError(path: "services[1].backends[0].address", message: #""198.0.0.1" has no port"#).description
                    == #"services[1].backends[0].address: "198.0.0.1" has no port"#)
    }
}

