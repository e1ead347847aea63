import Testing
@testable import BasculeConfig

/// `healthCheck.port` / `.address` / `.steps`, `backends[].healthCheck` and `backends[].agent`.
@Suite struct CheckTargetConfigTests {
    @Test func aProbePortAndAddressMoveTheCheckNotTheTraffic() throws {
        let config = try #require(parse(document(service: #""healthCheck": {"port": 59999, "address": "127.0.0.2"}"#)).value)
        let service = config.services[0]
        #expect(service.backends[0].address == Endpoint(host: "127.0.0.1", port: 9001))
        #expect(service.healthCheck.target(for: service.backends[0]) == Endpoint(host: "127.0.0.2", port: 59999))
    }

    @Test func aBackendsOwnCheckTargetWinsOverTheServices() throws {
        let config = try #require(parse(document(service: #""healthCheck": {"port": 59999}"#,
                                                 backend: #""healthCheck": {"port": 60001, "address": "::1"}"#)).value)
        let service = config.services[0]
        #expect(service.healthCheck.target(for: service.backends[0]) == Endpoint(host: "::1", port: 60001))
        let withoutOverride = try #require(parse(document(service: #""healthCheck": {"port": 59999}"#)).value).services[0]
        #expect(withoutOverride.healthCheck.target(for: withoutOverride.backends[0]) == Endpoint(host: "127.0.0.1", port: 59999))
    }

    @Test func badCheckTargetsNameTheirField() {
        #expect(messages(document(service: #""healthCheck": {"port": 0}"#), at: "services[0].healthCheck.port")
                    == ["must be between 1 and 65535, got 0"])
        #expect(messages(document(service: #""healthCheck": {"address": "db.example"}"#), at: "services[0].healthCheck.address")
                    == [#""db.example" is not an IP address (write an IPv4 or IPv6 literal, without port or brackets)"#])
        #expect(messages(document(backend: #""healthCheck": {"port": 70000}"#), at: "services[0].backends[0].healthCheck.port")
                    == ["must be between 1 and 65535, got 70000"])
        // A backend's own healthCheck says only where: the rest stays the service's.
        #expect(messages(document(backend: #""healthCheck": {"type": "http"}"#), at: "services[0].backends[0].healthCheck.type")
                    == ["unknown key (known keys: port, address)"])
    }

    @Test func stepsAreReadInOrderWithTheirTimeouts() throws {
        let json = document(service: #"""
            "healthCheck": {"type": "tcp", "timeoutMs": 800, "steps": [
                {"send": "ROLE\r\n"}, {"expect": "primary", "timeoutMs": 300},
                {"sendHex": "0d 0A ff"}, {"expectRegex": "^role: (primary|master)$"}]}
            """#)
        let steps = try #require(parse(json).value).services[0].healthCheck.steps
        #expect(steps == [
            TCPCheckStep(.send(Array("ROLE\r\n".utf8)), timeoutMs: 800),
            TCPCheckStep(.expectSubstring("primary"), timeoutMs: 300),
            TCPCheckStep(.send([0x0d, 0x0a, 0xff]), timeoutMs: 800),
            TCPCheckStep(.expectRegex("^role: (primary|master)$"), timeoutMs: 800),
        ])
    }

    @Test func badStepsNameTheStepAndTheField() {
        let at = "services[0].healthCheck.steps"
        let json = document(service: #"""
            "healthCheck": {"type": "tcp", "timeoutMs": 500, "steps": [
                {"expectRegex": "role: (primary"}, {"sendHex": "0g"}, {"send": "a", "expect": "b"}, {"timeoutMs": 5},
                {"expect": "x", "timeoutMs": 900}, {"expect": ""}, {"sned": "x"}]}
            """#)
        let regexMessage = messages(json, at: "\(at)[0].expectRegex")
        #expect(regexMessage.count == 1 && regexMessage[0].hasPrefix(#""role: (primary" is not a valid regular expression: "#), "\(regexMessage)")
        #expect(messages(json, at: "\(at)[1].sendHex") == [#""0g" is not hex (pairs of 0-9, a-f; spaces allowed)"#])
        #expect(messages(json, at: "\(at)[2]") == ["a step has one action, found send and expect"])
        #expect(messages(json, at: "\(at)[3]") == ["a step needs one of send, sendHex, expect, expectRegex"])
        #expect(messages(json, at: "\(at)[4].timeoutMs") == ["900 is longer than the check's timeoutMs (500), which bounds every step"])
        #expect(messages(json, at: "\(at)[5].expect") == ["empty (a step must send or expect at least one byte)"])
        #expect(messages(json, at: "\(at)[6].sned") == ["unknown key (known keys: send, sendHex, expect, expectRegex, timeoutMs)"])
        #expect(messages(document(service: #""healthCheck": {"type": "http", "steps": [{"send": "x"}]}"#), at: "services[0].healthCheck.steps")
                    == [#"only a "tcp" check sends and expects (this one is "http")"#])
    }

    @Test func anAgentNeedsAPortAndAnIntervalLongerThanItsTimeout() throws {
        let config = try #require(parse(document(backend: #""agent": {"port": 9777, "intervalMs": 500, "timeoutMs": 200}"#)).value)
        let backend = config.services[0].backends[0]
        #expect(backend.agent == AgentCheckConfig(port: 9777, intervalMs: 500, timeoutMs: 200))
        #expect(backend.agent?.target(for: backend.address) == Endpoint(host: "127.0.0.1", port: 9777))
        #expect(try #require(parse(document()).value).services[0].backends[0].agent == nil)

        let at = "services[0].backends[0].agent"
        #expect(messages(document(backend: #""agent": {"intervalMs": 500}"#), at: "\(at).port") == ["missing (the agent's TCP port)"])
        #expect(messages(document(backend: #""agent": {"port": 9777, "intervalMs": 100}"#), at: "\(at).intervalMs")
                    == ["timeoutMs (1000) is longer than intervalMs (100)"])
        #expect(messages(document(backend: #""agent": {"port": 9777, "adress": "127.0.0.1"}"#), at: "\(at).adress")
                    == [#"unknown key (did you mean "address"?)"#])
        #expect(messages(document(backend: #""agent": 9777"#), at: at) == ["expected an object, got number 9777"])
    }
}
