import Testing
@testable import BasculeConfig

@Suite struct ConfigSummaryTests {
    @Test func theSummaryShowsServicesStrategiesChecksAndBackends() throws {
        let summary = try parse(designConfig).get().summary(resolvedWorkers: 2)
        #expect(summary == """
            2 services, 2 workers (one per core)
            admin: 127.0.0.1:9000 (no token: loopback callers only)
            defaults: connect 2000 ms, idle 300000 ms, retries 2, drain 30000 ms

            service publishing on 127.0.0.1:8081: least-connections
              health: http GET /health expecting 200, every 1000 ms, timeout 500 ms, rise 2, fall 2
              - pub1  127.0.0.1:9101  weight 1
              - pub2  127.0.0.1:9102  weight 1
              - pub3  127.0.0.1:9103  weight 2

            service management on 127.0.0.1:8080: source-hash (affinity single)
              health: tcp connect, every 1000 ms, timeout 500 ms, rise 2, fall 2
              - mgmt1  127.0.0.1:9201  weight 1
              - mgmt2  127.0.0.1:9202  weight 1, backup
            """)
    }

    @Test func nonDefaultServiceSettingsAreShownOnOneLine() throws {
        let json = document(service: #"""
            "retries": 0, "maxConnections": 100, "proxyProtocol": "v1", "allow": ["198.0.0.0/8"], "slowStartMs": 5000,
            "healthCheck": { "type": "none" }
            """#, backend: #""maxConnections": 10"#, top: #""workers": 3, "admin": { "listen": "127.0.0.1:9100", "token": "t" }"#)
        let summary = try parse(json).get().summary(resolvedWorkers: 3)
        #expect(summary == """
            1 service, 3 workers
            admin: 127.0.0.1:9100 (token set)
            defaults: connect 2000 ms, idle 300000 ms, retries 2, drain 30000 ms

            service web on 127.0.0.1:8080: round-robin
              health: none (backends are always considered up)
              retries 0, max 100 connections, sends PROXY v1, allow 198.0.0.0/8, slow start 5000 ms
              - b1  127.0.0.1:9001  weight 1, max 10 connections
            """)
    }
}
