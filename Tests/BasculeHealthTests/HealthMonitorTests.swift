import BasculeConfig
import BasculeEventLoop
import BasculeHealth
import BasculeTestSupport
import CLinux
import Testing

/// tcp and http checks against loopback servers on the monitor's own loop.
@Suite(.serialized) struct HealthMonitorTests {
    private func monitor(_ loop: EventLoop, _ check: HealthCheckConfig, ports: [UInt16],
                         _ recorder: ChangeRecorder, host: String = "127.0.0.1") throws -> HealthMonitor {
        try HealthMonitor(loop: loop, configuration: configuration(check, ports: ports, host: host), log: testLog) {
            recorder.record($0, $1, $2, $3)
        }
    }

    @Test func aListeningBackendStaysUpUnderTCPChecks() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok()))
        defer { server.close() }
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .tcp, intervalMs: 50, timeoutMs: 200, rise: 2, fall: 2),
                                  ports: [server.port], recorder)
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { monitor.results()[0][0].checksTotal >= 3 })
        let result = monitor.results()[0][0]
        #expect(recorder.changes.isEmpty)
        #expect(result.healthy && result.lastResult == .ok && result.reason == "connect ok")
        #expect(result.consecutiveSuccesses >= 3 && result.failuresTotal == 0)
        #expect(result.latency.count == result.checksTotal)
    }

    @Test func aRefusingBackendGoesDownAfterFallChecksWithTheReason() throws {
        let loop = try EventLoop()
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .tcp, intervalMs: 50, timeoutMs: 200, rise: 2, fall: 2),
                                  ports: [try LoopbackHTTPServer.refusingPort()], recorder)
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { !recorder.changes.isEmpty })
        #expect(recorder.changes.first?.healthy == false)
        #expect(recorder.changes.first?.reason == "connect refused (2/2)")
        let result = monitor.results()[0][0]
        #expect(!result.healthy && result.checksTotal == 2 && result.failuresTotal == 2)
    }

    @Test func aKilledBackendIsTakenOutWithinIntervalTimesFallPlusTimeout() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok()))
        defer { server.close() }
        let recorder = ChangeRecorder()
        let check = HealthCheckConfig(type: .http, path: "/health", intervalMs: 200, timeoutMs: 100, rise: 2, fall: 2)
        let monitor = try monitor(loop, check, ports: [server.port], recorder)
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { monitor.results()[0][0].checksTotal >= 2 })
        let killedAt = cl_monotonic_ns()
        server.close()
        #expect(try drive(loop, timeoutMs: 3_000) { !recorder.changes.isEmpty })
        let detectionMs = (recorder.changes.first!.atNs - killedAt) / 1_000_000
        print("detection after kill: \(detectionMs) ms (bound \(200 * 2 + 100) ms)")
        #expect(recorder.changes.first?.reason == "connect refused (2/2)")
        #expect(detectionMs <= 200 * 2 + 100 + 100)
    }

    @Test func http200KeepsTheBackendUp() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok()))
        defer { server.close() }
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .http, path: "/health", intervalMs: 50, timeoutMs: 200),
                                  ports: [server.port], recorder)
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { monitor.results()[0][0].checksTotal >= 3 })
        #expect(recorder.changes.isEmpty)
        #expect(monitor.results()[0][0].reason == "http status 200")
        #expect(monitor.results()[0][0].lastResult == .ok)
    }

    @Test func http503TakesTheBackendDownAfterFallChecksAndItComesBackAfterRise() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(
            loop: loop, behavior: .respond(LoopbackHTTPServer.response(status: "503 Service Unavailable", body: "failing")))
        defer { server.close() }
        let recorder = ChangeRecorder()
        let check = HealthCheckConfig(type: .http, path: "/health", intervalMs: 50, timeoutMs: 200, rise: 3, fall: 2)
        let monitor = try monitor(loop, check, ports: [server.port], recorder)
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { recorder.changes.count == 1 })
        #expect(recorder.changes.first?.healthy == false)
        #expect(recorder.changes.first?.reason == "http status 503 (2/2)")
        #expect(monitor.results()[0][0].checksTotal == 2)

        server.behavior = .respond(LoopbackHTTPServer.ok())
        let checksWhenRecovered = monitor.results()[0][0].checksTotal
        #expect(try drive(loop, timeoutMs: 3_000) { recorder.changes.count == 2 })
        #expect(recorder.changes.last?.healthy == true)
        #expect(recorder.changes.last?.reason == "http status 200 (3/3)")
        #expect(monitor.results()[0][0].checksTotal - checksWhenRecovered == 3)
        #expect(monitor.results()[0][0].healthy)
    }

    @Test func expectBodyTakesDownOnlyTheBackendWhoseBodyLacksTheSubstring() throws {
        let loop = try EventLoop()
        let healthy = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok("status: ok")))
        let degraded = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok("status: degraded")))
        defer { healthy.close(); degraded.close() }
        let recorder = ChangeRecorder()
        let check = HealthCheckConfig(type: .http, path: "/health", expectBody: "ok", intervalMs: 50, timeoutMs: 200,
                                      rise: 2, fall: 2)
        let monitor = try monitor(loop, check, ports: [healthy.port, degraded.port], recorder)
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) {
            !recorder.changes.isEmpty && monitor.results()[0][0].checksTotal >= 3
        })
        #expect(recorder.changes.count == 1)
        #expect(recorder.changes.first?.backend == 1)
        #expect(recorder.changes.first?.reason == "body does not contain \"ok\" (2/2)")
        #expect(monitor.results()[0][0].healthy && monitor.results()[0][0].failuresTotal == 0)
    }

    @Test func aHangingBackendIsTakenOutByTimeoutWithinIntervalTimesFallPlusTimeout() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .hang)
        defer { server.close() }
        let recorder = ChangeRecorder()
        let check = HealthCheckConfig(type: .http, path: "/health", intervalMs: 200, timeoutMs: 100, rise: 2, fall: 2)
        let monitor = try monitor(loop, check, ports: [server.port], recorder)
        defer { monitor.stop() }
        let startedAt = cl_monotonic_ns()
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { !recorder.changes.isEmpty })
        let detectionMs = (recorder.changes.first!.atNs - startedAt) / 1_000_000
        print("detection of a hang: \(detectionMs) ms (bound \(200 * 2 + 100) ms)")
        #expect(recorder.changes.first?.reason == "timeout after 100 ms (2/2)")
        #expect(detectionMs <= 200 * 2 + 100 + 100)
        // Each timed-out attempt closed its socket: the server saw both hang up.
        #expect(try drive(loop, timeoutMs: 1_000) { server.peerClosures >= 2 })

        server.behavior = .respond(LoopbackHTTPServer.ok())
        #expect(try drive(loop, timeoutMs: 3_000) { recorder.changes.count == 2 })
        #expect(recorder.changes.last?.reason == "http status 200 (2/2)")
    }

    @Test func stopClosesTheSocketOfACheckInFlight() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .hang)
        defer { server.close() }
        let handlersBefore = loop.registeredHandlerCount
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .http, intervalMs: 20, timeoutMs: 5_000),
                                  ports: [server.port], recorder)
        monitor.start()
        #expect(try drive(loop, timeoutMs: 2_000) { server.openConnections == 1 })
        monitor.stop()
        #expect(try drive(loop, timeoutMs: 1_000) { server.peerClosures == 1 })
        #expect(loop.registeredHandlerCount == handlersBefore + server.openConnections)
        // Stopped means stopped: no further attempt arrives.
        try drive(loop, timeoutMs: 100) { false }
        #expect(server.accepted == 1)
    }

    @Test func typeNoneNeverProbes() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .hang)
        defer { server.close() }
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .none, intervalMs: 10), ports: [server.port], recorder)
        defer { monitor.stop() }
        monitor.start()
        try drive(loop, timeoutMs: 100) { false }
        #expect(server.accepted == 0)
        #expect(monitor.results()[0][0].lastResult == .pending)
        #expect(monitor.results()[0][0].checkType == HealthCheckType.none)
    }

    @Test func aBackendTakenDownPassivelyReturnsAfterRiseGoodChecks() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok()))
        defer { server.close() }
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .tcp, intervalMs: 50, timeoutMs: 200, rise: 2, fall: 2),
                                  ports: [server.port], recorder)
        defer { monitor.stop() }
        monitor.noteDown(service: 0, backend: 0)
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { !recorder.changes.isEmpty })
        #expect(recorder.changes.first?.healthy == true)
        #expect(recorder.changes.first?.reason == "connect ok (2/2)")
        #expect(monitor.results()[0][0].checksTotal == 2)
    }

    @Test func anIPv6BackendIsCheckedOverIPv6() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok()), ipv6: true)
        defer { server.close() }
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .http, path: "/health", intervalMs: 50, timeoutMs: 200),
                                  ports: [server.port], recorder, host: "::1")
        defer { monitor.stop() }
        monitor.start()
        #expect(try drive(loop, timeoutMs: 3_000) { monitor.results()[0][0].checksTotal >= 2 })
        #expect(recorder.changes.isEmpty)
        #expect(monitor.results()[0][0].reason == "http status 200")
    }

    @Test func firstChecksAreSpreadOverTheFirstInterval() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .respond(LoopbackHTTPServer.ok()))
        defer { server.close() }
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .tcp, intervalMs: 400, timeoutMs: 200),
                                  ports: Array(repeating: server.port, count: 8), recorder)
        defer { monitor.stop() }
        let startedAt = cl_monotonic_ns()
        monitor.start()
        var firstCheckMs: [UInt64] = []
        var seen = Set<Int>()
        try drive(loop, timeoutMs: 2_000) {
            for (index, result) in monitor.results()[0].enumerated() where result.checksTotal > 0 && !seen.contains(index) {
                seen.insert(index)
                firstCheckMs.append(millisecondsSince(startedAt))
            }
            return seen.count == 8
        }
        #expect(seen.count == 8)
        #expect(firstCheckMs.allSatisfy { $0 <= 400 + 50 })
        // Eight uniform draws over 400 ms landing within 20 ms of each other: odds below 1e-10.
        #expect((firstCheckMs.max() ?? 0) - (firstCheckMs.min() ?? 0) > 20)
    }

    @Test func aTimeoutLongerThanTheIntervalKeepsOneCheckInFlightAtATime() throws {
        let loop = try EventLoop()
        let server = try LoopbackHTTPServer(loop: loop, behavior: .hang)
        defer { server.close() }
        let recorder = ChangeRecorder()
        let monitor = try monitor(loop, HealthCheckConfig(type: .http, intervalMs: 50, timeoutMs: 200, rise: 1, fall: 1),
                                  ports: [server.port], recorder)
        defer { monitor.stop() }
        monitor.start()
        try drive(loop, timeoutMs: 1_000) { false }
        #expect(recorder.changes.first?.reason == "timeout after 200 ms (1/1)")
        #expect(server.openConnections <= 1)
        #expect(server.accepted >= 3 && server.accepted <= 6)
        #expect(monitor.results()[0][0].failuresTotal == monitor.results()[0][0].checksTotal)
    }

    /// A reload that adds thousands of backends, or a loop held up for a while, brings many
    /// checks due at once: a turn of the loop starts at most 64 of them, so the admin endpoint
    /// and the signals sharing the loop get their turn in between, and the rest follow.
    @Test func checksThatComeDueTogetherStartAFewPerLoopTurn() throws {
        let loop = try EventLoop()
        let recorder = ChangeRecorder()
        let port = try LoopbackHTTPServer.refusingPort()
        let count = 400
        let monitor = try monitor(loop, HealthCheckConfig(type: .tcp, intervalMs: 1, timeoutMs: 1, rise: 1, fall: 1),
                                  ports: Array(repeating: port, count: count), recorder)
        defer { monitor.stop() }
        monitor.start()
        var turns = 0
        var checked = Set<Int>()
        while checked.count < count && turns < 2_000 {
            try loop.runOnce(maxWaitMs: 10)
            turns += 1
            let results = monitor.results()[0]
            let completed = results.reduce(0) { $0 + Int($1.checksTotal) }
            // Every check that completed was started in one of the turns so far.
            #expect(completed <= 64 * turns, "\(completed) checks after \(turns) turns")
            if completed > 64 * turns { break }
            for (index, result) in results.enumerated() where result.checksTotal > 0 { checked.insert(index) }
        }
        #expect(checked.count == count, "every backend was checked, \(count / 64 + 1) turns at least")
        #expect(recorder.changes.count == count, "each one went down once")
    }
}
