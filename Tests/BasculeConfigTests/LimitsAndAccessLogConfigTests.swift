import BasculeConfig
import Testing

@Suite struct LimitsAndAccessLogConfigTests {
    private func parse(_ text: String) -> Result<BasculeConfiguration, ConfigErrors> {
        ConfigLoader.parse(Array(text.utf8), knownStrategies: ["round-robin"])
    }

    private let service = #"{"name": "a", "listen": "127.0.0.1:18001", "backends": [{"name": "b", "address": "127.0.0.1:18002"}]"#

    @Test func accessLogAndLimitsAreReadWhereTheyAreValid() throws {
        let config = try parse(#"{"accessLog": "/tmp/bascule-access.log", "maxConnections": 100, "services": ["#
            + service + #", "maxConnectionsPerClient": 5}]}"#).get()
        #expect(config.accessLog == "/tmp/bascule-access.log")
        #expect(config.maxConnections == 100)
        #expect(config.services[0].maxConnectionsPerClient == 5)
        #expect(try parse(#"{"accessLog": "-", "services": ["# + service + "}]}").get().accessLog == "-")
    }

    @Test func anAccessLogInAMissingDirectoryAndBadLimitsAreErrorsWithTheirPaths() {
        guard case .failure(let failure) = parse(#"{"accessLog": "/no/such/dir/access.log", "maxConnections": 0, "services": ["#
            + service + #", "maxConnectionsPerClient": -1}]}"#) else {
            Issue.record("expected errors")
            return
        }
        let text = failure.description
        #expect(text.contains("accessLog: directory \"/no/such/dir\" does not exist"))
        #expect(text.contains("maxConnections:"))
        #expect(text.contains("services[0].maxConnectionsPerClient:"))
    }

    @Test func drainGraceDefaultsToZeroAndIsBounded() throws {
        #expect(try parse(#"{"services": ["# + service + "}]}").get().drainGraceMs == 0)
        let config = try parse(#"{"drainGraceMs": 3000, "services": ["# + service + "}]}").get()
        #expect(config.drainGraceMs == 3000)
        #expect(config.summary(resolvedWorkers: 1).contains("still accepting for 3000 ms"))
        guard case .failure(let failure) = parse(#"{"drainGraceMs": -5, "services": ["# + service + "}]}") else {
            Issue.record("a negative grace must be refused")
            return
        }
        #expect(failure.description.contains("drainGraceMs:"))
    }
}
