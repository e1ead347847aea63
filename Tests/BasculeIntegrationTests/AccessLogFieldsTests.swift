import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The access log carries what HAProxy's tcplog gives an operator: accept time, listen and
/// backend addresses, queue/connect/total timings, retries, concurrent counts, a connection id
/// and a fixed termination code per way a connection can end.
@Suite("Access log fields", .serialized, .timeLimit(.minutes(2)))
struct AccessLogFieldsTests {
    private func lines(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    private func number(_ value: Any?) -> Double? {
        (value as? NSNumber)?.doubleValue
    }

    @Test func eachEndingHasItsTerminationCodeAndTheTcplogFields() throws {
        let (live, livePort) = try BackendProcess.start(name: "live")
        defer { live.terminate() }
        let (spare, sparePort) = try BackendProcess.start(name: "spare")
        defer { spare.terminate() }
        let deadPort = try freeLoopbackPort()
        let otherDeadPort = try freeLoopbackPort()
        let logPath = NSTemporaryDirectory() + "bascule-fields-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(logPath) }
        let balancer = try BalancerProcess(services: [
            ["name": "publishing", "healthCheck": ["type": "none"], "strategy": "round-robin", "retries": 2,
             "backends": [["name": "live", "address": "127.0.0.1:\(livePort)"],
                          ["name": "dead", "address": "127.0.0.1:\(deadPort)"]]],
            ["name": "nowhere", "healthCheck": ["type": "none"], "retries": 1,
             "backends": [["name": "dead1", "address": "127.0.0.1:\(deadPort)"],
                          ["name": "dead2", "address": "127.0.0.1:\(otherDeadPort)"]]],
            ["name": "idle", "healthCheck": ["type": "none"], "idleTimeoutMs": 300,
             "backends": [["name": "spare", "address": "127.0.0.1:\(sparePort)"]]],
            ["name": "drained", "healthCheck": ["type": "none"],
             "backends": [["name": "only", "address": "127.0.0.1:\(sparePort)"]]],
        ], extraTopLevel: ["accessLog": logPath])
        defer { balancer.process.terminate() }

        // Completed, some after a refused first attempt on "dead" (round-robin takes it in turn).
        for _ in 0..<4 {
            let client = try TCPClient(port: balancer.port("publishing"))
            try client.sendAll("GET /whoami HTTP/1.0\r\n\r\n")
            _ = try client.readToEOF()
            client.close()
        }
        // Every attempt refused: connect failed after one retry.
        let refused = try TCPClient(port: balancer.port("nowhere"))
        _ = try? refused.readToEOF()
        // Idle: the client says nothing, the balancer's idle timeout ends it.
        let quiet = try TCPClient(port: balancer.port("idle"))
        _ = try? quiet.readToEOF()
        // No eligible backend.
        #expect(try balancer.admin("POST", "/services/drained/backends/only/drain").status == 200)
        let turnedAway = try TCPClient(port: balancer.port("drained"))
        _ = try? turnedAway.readToEOF()

        try waitUntil("seven access-log lines") { lines(logPath).count >= 7 }
        let logged = lines(logPath)
        func from(_ service: String) -> [[String: Any]] { logged.filter { $0["service"] as? String == service } }

        let completed = from("publishing")
        #expect(completed.count == 4)
        for line in completed {
            #expect(line["termination"] as? String == "--", "\(line)")
            #expect(line["end"] as? String == "backend closed", "\(line)")
            #expect(line["backend"] as? String == "live", "\(line)")
            #expect(line["backendAddress"] as? String == "127.0.0.1:\(livePort)", "\(line)")
            #expect(line["listen"] as? String == "127.0.0.1:\(balancer.port("publishing"))", "\(line)")
            #expect(number(line["queueMs"]) == 0, "no PROXY header to wait for: \(line)")
            #expect((number(line["connectMs"]) ?? -1) >= 0 && (number(line["connectMs"]) ?? .infinity) <= (number(line["durationMs"]) ?? 0), "\(line)")
            // This connection itself is open at close, on its backend and on its service.
            #expect((number(line["backendActive"]) ?? 0) >= 1 && (number(line["serviceActive"]) ?? 0) >= 1, "\(line)")
            let accepted = try #require(line["accepted"] as? String)
            let closed = try #require(line["time"] as? String)
            #expect(accepted.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil && accepted <= closed, "\(line)")
            #expect((line["id"] as? String)?.wholeMatch(of: /\d+-\d+/) != nil, "\(line)")
        }
        #expect(Set(completed.compactMap { $0["id"] as? String }).count == 4, "ids are unique")
        #expect(completed.contains { number($0["retries"]) == 1 }, "round-robin sent one connection to the dead backend first: \(completed)")
        #expect(completed.allSatisfy { [0, 1].contains(number($0["retries"])) })

        let failed = try #require(from("nowhere").first)
        #expect(failed["termination"] as? String == "SC", "\(failed)")
        #expect(number(failed["retries"]) == 1, "\(failed)")
        #expect(failed["backend"] is NSNull && failed["connectMs"] is NSNull, "\(failed)")

        let idle = try #require(from("idle").first)
        #expect(idle["termination"] as? String == "cD", "\(idle)")
        // The idle deadline is set on the loop clock, read once per wake-up, while durationMs is
        // timed from the accept itself: a wake-up that was already busy makes the deadline early
        // by its own length (0.7 ms seen under load), so the bound allows a few milliseconds.
        #expect((number(idle["durationMs"]) ?? 0) >= 290, "\(idle)")

        let none = try #require(from("drained").first)
        #expect(none["termination"] as? String == "NC", "\(none)")
        #expect(none["end"] as? String == "no backend", "\(none)")
    }
}
