import BasculeConfig
import Testing

/// `services[].backendMetrics`: per-backend series on /metrics, on unless a pool says otherwise.
@Suite struct BackendMetricsConfigTests {
    private func parse(_ service: String) -> Result<BasculeConfiguration, ConfigErrors> {
        let text = #"{"services": [{"name": "big", "listen": "127.0.0.1:18001", "backends": [{"name": "p", "address": "127.0.0.1:18002"}]"#
            + service + "}]}"
        return ConfigLoader.parse(Array(text.utf8), knownStrategies: ["round-robin"])
    }

    @Test func perBackendSeriesAreOnUnlessTheServiceTurnsThemOff() throws {
        #expect(try parse("").get().services[0].backendMetrics)
        #expect(try parse(#", "backendMetrics": true"#).get().services[0].backendMetrics)
        #expect(try !parse(#", "backendMetrics": false"#).get().services[0].backendMetrics)
    }

    @Test func aValueThatIsNotABooleanIsAnErrorWithItsPath() {
        guard case .failure(let failure) = parse(#", "backendMetrics": "off""#) else {
            Issue.record("\"off\" was accepted")
            return
        }
        #expect(failure.description.contains("services[0].backendMetrics"), "\(failure.description)")
        #expect(failure.description.contains("expected true or false"))
    }
}
