@testable import BasculeAdmin
import BasculeConfig
import BasculeEventLoop
@testable import BasculeProxy
import BasculeTestSupport
import Foundation
import Glibc
import Testing

@Suite(.serialized, .timeLimit(.minutes(1)))
struct AdminServerTests {
    @Test func healthzAnswersOk() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "GET", "/healthz"))
        #expect(reply.status == 200)
        #expect(reply.body == "ok\n")
        #expect(reply.header("connection") == "close")
    }

    @Test func headGetsTheHeadersWithoutTheBody() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "HEAD", "/healthz"))
        #expect(reply.status == 200)
        #expect(reply.header("content-length") == "3")
        #expect(reply.body.isEmpty)
    }

    @Test func readyzIsReadyWhileEveryServiceHasAnEligibleBackend() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        #expect(TestClient.request(port: server.port, "GET", "/readyz")?.status == 200)
    }

    @Test func readyzNamesTheServicesWithNoEligibleBackend() throws {
        let target = FakeTarget()
        target.mutate { $0[1].backends[0].healthy = false }
        let server = try RunningAdminServer(target: target)
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "GET", "/readyz"))
        #expect(reply.status == 503)
        #expect(reply.body.contains("db"))
        #expect(!reply.body.contains("web"))
    }

    @Test func statusIsJSONWithEveryBackendField() throws {
        let target = FakeTarget()
        target.mutate { $0[0].backends[1].admin = .draining; $0[0].backends[1].reason = "quote \" and <tag>\n" }
        let server = try RunningAdminServer(target: target)
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "GET", "/status"))
        #expect(reply.status == 200)
        #expect(reply.header("content-type") == "application/json")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
        #expect(document["ready"] as? Bool == true)
        let services = try #require(document["services"] as? [[String: Any]])
        #expect(services.map { $0["name"] as? String } == ["web", "db"])
        #expect(services[0]["activeConnections"] as? Int == 3)
        let backends = try #require(services[0]["backends"] as? [[String: Any]])
        #expect(backends.count == 3)
        let fields = ["name", "address", "backup", "state", "healthy", "admin", "weight", "effectiveWeight",
                      "activeConnections", "totalConnections", "connectFailures", "bytesIn", "bytesOut",
                      "lastChangeReason", "secondsSinceLastChange"]
        for field in fields { #expect(backends[0][field] != nil, "missing \(field)") }
        #expect(backends[0]["totalConnections"] as? Int == 40)
        #expect(backends[0]["bytesOut"] as? Int == 5_000_000_000)
        #expect(services[0]["connectionsFailed"] as? Int == 2)
        #expect(backends[1]["state"] as? String == "draining")
        #expect(backends[1]["lastChangeReason"] as? String == "quote \" and <tag>\n")
        #expect(backends[2]["backup"] as? Bool == true)
    }

    @Test func extraStatusMembersAreIncluded() throws {
        let server = try RunningAdminServer { $0.extraStatus = [(key: "workers", value: { .int(2) })] }
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "GET", "/status"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
        #expect(document["workers"] as? Int == 2)
    }

    @Test func unknownRouteIs404() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        #expect(TestClient.request(port: server.port, "GET", "/nope")?.status == 404)
        #expect(TestClient.request(port: server.port, "GET", "/services/web/backends/web-1/explode")?.status == 404)
    }

    @Test func wrongMethodIs405WithAllow() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let post = try #require(TestClient.request(port: server.port, "POST", "/status", body: ""))
        #expect(post.status == 405)
        #expect(post.header("allow") == "GET, HEAD")
        let get = try #require(TestClient.request(port: server.port, "GET", "/services/web/backends/web-1/drain"))
        #expect(get.status == 405)
        #expect(get.header("allow") == "POST")
        #expect(TestClient.request(port: server.port, "POST", "/services/web/backends/web-1/weight", body: "2")?.status == 405)
    }

    @Test func dashboardIsSelfContainedHTML() throws {
        let server = try RunningAdminServer(token: "s3cret")
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "GET", "/"))
        #expect(reply.status == 200)
        #expect(reply.header("content-type") == "text/html; charset=utf-8")
        #expect(reply.header("content-security-policy")?.contains("default-src 'none'") == true)
        #expect(reply.body.contains("fetch(\"/status\""))
        #expect(reply.body.contains("const TOKEN_REQUIRED = true;"))
        #expect(!reply.body.contains("src=\"http"))
        #expect(!reply.body.contains("href=\"http"))
    }

    @Test func bindingAnAddressInUseNamesTheAddress() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let loop = try EventLoop()
        let config = AdminConfig(listen: Endpoint(host: "127.0.0.1", port: server.port))
        #expect {
            _ = try AdminServer(loop: loop, config: config, target: FakeTarget(), log: server.logs.logger)
        } throws: { error in
            "\(error)".contains("127.0.0.1:\(server.port)") && "\(error)".contains("in use")
        }
    }

    @Test func listensOnIPv6Loopback() throws {
        let loop = try EventLoop()
        let server = try AdminServer(loop: loop, config: AdminConfig(listen: Endpoint(host: "::1", port: 0)),
                                     target: FakeTarget(), log: LogRecorder().logger)
        defer { server.close() }
        #expect(server.boundPort != 0)
        #expect(server.boundAddress.description.hasPrefix("[::1]:"))
    }
}
