import BasculeConfig
import Testing

/// onBackendDown, failback, keepalive and tiers as read from config.json (issue 16).
@Suite struct OutageConfigTests {
    private func parse(_ text: String) -> Result<BasculeConfiguration, ConfigErrors> {
        ConfigLoader.parse(Array(text.utf8), knownStrategies: ["round-robin"])
    }

    private func errors(_ text: String) -> String {
        guard case .failure(let failure) = parse(text) else { return "" }
        return failure.description
    }

    private let backends = #""backends": [{"name": "p", "address": "127.0.0.1:18002"}, {"name": "b", "address": "127.0.0.1:18003", "backup": true}, {"name": "dr", "address": "127.0.0.1:18004", "tier": 2}]"#

    @Test func defaultsResetOnDownKeepNoFailbackAndBoundKeepaliveTo120Seconds() throws {
        let service = try parse(#"{"services": [{"name": "a", "listen": "127.0.0.1:18001", "# + backends + "}]}").get().services[0]
        #expect(service.onBackendDown == .reset)
        #expect(service.failback == false)
        #expect(service.keepAlive.isEnabled)
        #expect(service.keepAlive.boundSeconds == 120)
        #expect(service.keepAlive.effectiveUserTimeoutMs == 120_000)
        #expect(service.backends.map(\.tier) == [0, 1, 2])
        #expect(service.backends.map(\.backup) == [false, true, true])
    }

    @Test func aServiceOverridesTheFilesDefaultsAndAUserTimeoutCanBeSetApart() throws {
        let config = try parse(#"{"defaults": {"keepAliveIdleSeconds": 30, "keepAliveIntervalSeconds": 5, "keepAliveCount": 3}, "services": [{"name": "a", "listen": "127.0.0.1:18001", "onBackendDown": "keep", "failback": true, "keepAliveCount": 4, "backendUserTimeoutMs": 20000, "# + backends + "}]}").get()
        let service = config.services[0]
        #expect(service.onBackendDown == .keep)
        #expect(service.failback)
        #expect(service.keepAlive == KeepAliveSettings(idleSeconds: 30, intervalSeconds: 5, count: 4, backendUserTimeoutMs: 20000))
        #expect(service.keepAlive.boundSeconds == 50)
        #expect(service.keepAlive.effectiveUserTimeoutMs == 20000)
    }

    @Test func zeroIdleSecondsTurnsKeepaliveAndItsUserTimeoutOff() throws {
        let service = try parse(#"{"defaults": {"keepAliveIdleSeconds": 0}, "services": [{"name": "a", "listen": "127.0.0.1:18001", "# + backends + "}]}").get().services[0]
        #expect(!service.keepAlive.isEnabled)
        #expect(service.keepAlive.effectiveUserTimeoutMs == 0)
    }

    @Test func badValuesAreErrorsWithTheirPaths() {
        let text = errors(#"{"services": [{"name": "a", "listen": "127.0.0.1:18001", "onBackendDown": "drop", "keepAliveIntervalSeconds": 0, "backends": [{"name": "p", "address": "127.0.0.1:18002", "backup": true, "tier": 0}, {"name": "q", "address": "127.0.0.1:18003", "tier": 10}]}]}"#)
        #expect(text.contains(#"services[0].onBackendDown: unknown onBackendDown "drop" (known: reset, keep)"#))
        #expect(text.contains("services[0].keepAliveIntervalSeconds:"))
        #expect(text.contains("services[0].backends[0].tier: tier 0 contradicts \"backup\": true"))
        #expect(text.contains("services[0].backends[1].tier:"))
    }

    @Test func aServiceNeedsATierZeroBackend() {
        let text = errors(#"{"services": [{"name": "a", "listen": "127.0.0.1:18001", "backends": [{"name": "p", "address": "127.0.0.1:18002", "tier": 1}, {"name": "q", "address": "127.0.0.1:18003", "tier": 2}]}]}"#)
        #expect(text.contains("every backend is a backup"))
    }
}
