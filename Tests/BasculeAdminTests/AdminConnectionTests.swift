@testable import BasculeAdmin
import BasculeTestSupport
import Foundation
import Glibc
import Testing

/// What a slow, broken or hostile client can do to the admin port: get an error, get cut off,
/// never stop the next client being served.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct AdminConnectionTests {
    @Test func garbageBytesGet400AndTheServerKeepsServing() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let reply = try #require(TestClient.exchange(port: server.port, raw: [0x16, 0x03, 0x01, 0x00, 0xFF, 0x00, 0x0D, 0x0A]))
        #expect(reply.status == 400)
        #expect(TestClient.exchange(port: server.port, raw: Array("HELLO\r\n\r\n".utf8))?.status == 400)
        #expect(TestClient.exchange(port: server.port, raw: Array("GET /healthz HTTP/9.9\r\n\r\n".utf8))?.status == 505)
        #expect(TestClient.exchange(port: server.port, raw: Array("GET healthz HTTP/1.1\r\n\r\n".utf8))?.status == 400)
        #expect(TestClient.request(port: server.port, "GET", "/healthz")?.status == 200)
    }

    @Test func oversizeHeadersGet431() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let padding = String(repeating: "a", count: 9000)
        let reply = try #require(TestClient.request(port: server.port, "GET", "/healthz", headers: ["X-Padding": padding]))
        #expect(reply.status == 431)
        #expect(TestClient.request(port: server.port, "GET", "/healthz")?.status == 200)
    }

    @Test func oversizeBodyGets413WithoutBeingRead() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let fd = TestClient.connect(port: server.port)
        defer { close(fd) }
        TestClient.send(fd, Array("PUT /services/web/backends/web-1/weight HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n".utf8))
        #expect(TestClient.parse(TestClient.readAll(fd))?.status == 413)
    }

    @Test func chunkedBodiesAreRefused() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let raw = "PUT /services/web/backends/web-1/weight HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n5\r\n0\r\n\r\n"
        #expect(TestClient.exchange(port: server.port, raw: Array(raw.utf8))?.status == 501)
        #expect(server.target.backend("web", "web-1")?.weight == 3)
    }

    @Test func aSilentClientDoesNotStopOthersAndIsTimedOut() throws {
        var options = AdminServer.Options()
        options.requestTimeoutMs = 400
        let server = try RunningAdminServer(options: options)
        defer { server.stop() }
        let silent = TestClient.connect(port: server.port)
        defer { close(silent) }
        let halfSent = TestClient.connect(port: server.port)
        defer { close(halfSent) }
        TestClient.send(halfSent, Array("GET /status HTTP/1.1\r\nHost: x\r\n".utf8))
        for _ in 0..<5 {
            #expect(TestClient.request(port: server.port, "GET", "/healthz")?.status == 200)
        }
        // Both stalled clients are answered 408 and closed once their time is up (well before
        // the test client's own 5 s receive timeout, which would leave them with nothing).
        #expect(TestClient.parse(TestClient.readAll(silent))?.status == 408)
        #expect(TestClient.parse(TestClient.readAll(halfSent))?.status == 408)
    }

    @Test func aClientThatHangsUpMidRequestLeavesTheServerServing() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        for _ in 0..<20 {
            let fd = TestClient.connect(port: server.port)
            TestClient.send(fd, Array("POST /services/web/backends/web-1/drain HTTP/1.1\r\nContent-Le".utf8))
            close(fd)
        }
        // Served once their hang-ups are read: until then they count against this peer's cap.
        #expect(throws: Never.self) {
            try waitUntil("the server serves again after the hang-ups", timeout: .seconds(5)) {
                TestClient.request(port: server.port, "GET", "/healthz")?.status == 200
            }
        }
        #expect(server.target.backend("web", "web-1")?.admin == .enabled)
    }

    @Test func aRequestSentByteByByteIsServed() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let fd = TestClient.connect(port: server.port)
        defer { close(fd) }
        // The pause is the behaviour under test (a slow client), not a wait for readiness:
        // it makes each byte arrive in a read of its own.
        for byte in "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8 {
            TestClient.send(fd, [byte])
            usleep(1000)
        }
        #expect(TestClient.parse(TestClient.readAll(fd))?.status == 200)
    }

    @Test func connectionsPastTheLimitAnswerOnlyHealthAndTheRestResumesWhenIdleOnesTimeOut() throws {
        var options = AdminServer.Options()
        options.maxConnections = 4
        options.reservedConnections = 2
        options.requestHeadTimeoutMs = 400
        let server = try RunningAdminServer(options: options)
        defer { server.stop() }
        let idle = (0..<4).map { TestClient.connect(port: server.port, source: "127.0.0.\($0 + 2)") }
        defer { idle.forEach { close($0) } }
        try waitUntil("the server holds the four idle connections", timeout: .seconds(5)) { server.openConnections == 4 }
        // General places full: health is still answered from the reserve, the rest is not.
        #expect(TestClient.request(port: server.port, "GET", "/healthz")?.status == 200)
        #expect(TestClient.request(port: server.port, "GET", "/status")?.status == 503)
        // Once the idle ones are timed out (408 at 400 ms, then a 1 s grace), service resumes.
        #expect(throws: Never.self) {
            try waitUntil("service resumes after the idle connections time out", timeout: .seconds(5), poll: .milliseconds(100)) {
                TestClient.request(port: server.port, "GET", "/status")?.status == 200
            }
        }
    }

    /// 70 idle connections used to make /readyz and /metrics unreachable for as long as they
    /// were renewed: a remote off-switch for a node whose admin port is reachable.
    @Test func anIdleFloodCannotSilenceReadinessOrMetrics() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        // From one peer: capped per peer, so everyone else is served in full.
        var flood = (0..<70).map { _ in TestClient.connect(port: server.port, source: "127.0.0.2") }
        defer { flood.forEach { close($0) } }
        let limits = AdminServer.Options()
        try waitUntil("the server holds one peer's share", timeout: .seconds(5)) {
            server.openConnections == limits.maxConnectionsPerPeer
        }
        #expect(TestClient.request(port: server.port, "GET", "/readyz")?.status == 200)
        #expect(TestClient.request(port: server.port, "GET", "/metrics")?.status == 200)
        // From many peers, filling the general places and the reserve: the silent ones make
        // room, so readiness is still answered at once.
        for peer in 0..<12 {
            flood += (0..<7).map { _ in TestClient.connect(port: server.port, source: "127.0.1.\(peer + 1)") }
        }
        try waitUntil("the server's general and reserved places are full", timeout: .seconds(5)) {
            server.openConnections == limits.maxConnections + limits.reservedConnections
        }
        for _ in 0..<3 {
            #expect(TestClient.request(port: server.port, "GET", "/readyz")?.status == 200)
            #expect(TestClient.request(port: server.port, "GET", "/healthz")?.status == 200)
        }
    }

    @Test func aSilentConnectionIsCutOffAtTheHeadDeadlineNotTheRequestDeadline() throws {
        var options = AdminServer.Options()
        options.requestHeadTimeoutMs = 300
        options.requestTimeoutMs = 20_000
        let server = try RunningAdminServer(options: options)
        defer { server.stop() }
        let silent = TestClient.connect(port: server.port, timeoutSeconds: 5)
        defer { close(silent) }
        let start = ContinuousClock.now
        #expect(TestClient.parse(TestClient.readAll(silent))?.status == 408)
        #expect(ContinuousClock.now - start < .seconds(3))
    }

    @Test func aBareLFIsAnswered400AtOnce() throws {
        var options = AdminServer.Options()
        options.requestTimeoutMs = 20_000
        options.requestHeadTimeoutMs = 20_000
        let server = try RunningAdminServer(options: options)
        defer { server.stop() }
        let start = ContinuousClock.now
        for raw in ["GET /healthz HTTP/1.1\nHost: x\n\n", "GET /healthz HTTP/1.1\r\nHost: x\n\r\n", "GET /healthz HTTP/1.1\n"] {
            let reply = TestClient.exchange(port: server.port, raw: Array(raw.utf8))
            #expect(reply?.status == 400, "\(raw.debugDescription) answered \(String(describing: reply?.status))")
        }
        #expect(ContinuousClock.now - start < .seconds(3), "a bare LF waited for a deadline")
        #expect(TestClient.request(port: server.port, "GET", "/healthz")?.status == 200)
    }
}

