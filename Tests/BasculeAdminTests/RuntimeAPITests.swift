@testable import BasculeAdmin
import BasculeConfig
@testable import BasculeProxy
import BasculePosix
import BasculeTestSupport
import Foundation
import Glibc
import Testing

@Suite(.serialized, .timeLimit(.minutes(1)))
struct RuntimeAPITests {
    @Test func drainDisableEnableWithoutTokenFromLoopback() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let drain = try #require(TestClient.request(port: server.port, "POST", "/services/web/backends/web-2/drain"))
        #expect(drain.status == 200)
        #expect(drain.body.contains("\"state\":\"draining\""))
        #expect(server.target.backend("web", "web-2")?.admin == .draining)
        #expect(server.target.backend("web", "web-2")?.reason.contains("drain from 127.0.0.1") == true)
        #expect(TestClient.request(port: server.port, "POST", "/services/web/backends/web-2/disable")?.status == 200)
        #expect(server.target.backend("web", "web-2")?.admin == .disabled)
        #expect(TestClient.request(port: server.port, "POST", "/services/web/backends/web-2/enable")?.status == 200)
        #expect(server.target.backend("web", "web-2")?.admin == .enabled)
    }

    @Test func missingOrWrongTokenIs401LoggedAndChangesNothing() throws {
        let server = try RunningAdminServer(token: "s3cret")
        defer { server.stop() }
        let missing = try #require(TestClient.request(port: server.port, "POST", "/services/web/backends/web-1/disable"))
        #expect(missing.status == 401)
        #expect(missing.header("www-authenticate")?.hasPrefix("Bearer") == true)
        let wrong = try #require(TestClient.request(port: server.port, "POST", "/services/web/backends/web-1/disable",
                                                    headers: ["Authorization": "Bearer s3cres"]))
        #expect(wrong.status == 401)
        let longer = try #require(TestClient.request(port: server.port, "PUT", "/services/web/backends/web-1/weight",
                                                     headers: ["Authorization": "Bearer s3cret2"], body: "9"))
        #expect(longer.status == 401)
        #expect(server.target.backend("web", "web-1")?.admin == .enabled)
        #expect(server.target.backend("web", "web-1")?.weight == 3)
        let rejections = server.logs.all.filter { $0.contains("wrong or missing token") }
        #expect(rejections.count == 3)
        #expect(rejections.allSatisfy { $0.contains("peer=127.0.0.1:") && $0.contains("route=") })
    }

    @Test func rightTokenIsAcceptedAndTheChangeReachesTheTarget() throws {
        let server = try RunningAdminServer(token: "s3cret")
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "POST", "/services/web/backends/web-1/drain",
                                                    headers: ["Authorization": "Bearer s3cret"]))
        #expect(reply.status == 200)
        #expect(server.target.backend("web", "web-1")?.admin == .draining)
    }

    @Test func readsNeedNoToken() throws {
        let server = try RunningAdminServer(token: "s3cret")
        defer { server.stop() }
        for path in ["/healthz", "/readyz", "/status", "/metrics", "/"] {
            #expect(TestClient.request(port: server.port, "GET", path)?.status == 200, "\(path)")
        }
    }

    @Test func unknownServiceOrBackendIs404NamingIt() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let service = try #require(TestClient.request(port: server.port, "POST", "/services/mail/backends/web-1/drain"))
        #expect(service.status == 404)
        #expect(service.body.contains("mail"))
        let backend = try #require(TestClient.request(port: server.port, "POST", "/services/web/backends/web-9/drain"))
        #expect(backend.status == 404)
        #expect(backend.body.contains("web-9"))
    }

    @Test func percentEncodedNamesAreDecoded() throws {
        let target = FakeTarget(services: [.init(name: "web site", backends: [.init(name: "a/b")])])
        let server = try RunningAdminServer(target: target)
        defer { server.stop() }
        #expect(TestClient.request(port: server.port, "POST", "/services/web%20site/backends/a%2Fb/drain")?.status == 200)
        #expect(target.backend("web site", "a/b")?.admin == .draining)
    }

    @Test func weightAcceptsAPlainIntegerOrJSON() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        #expect(TestClient.request(port: server.port, "PUT", "/services/web/backends/web-2/weight", body: "5\n")?.status == 200)
        #expect(server.target.backend("web", "web-2")?.weight == 5)
        let reply = try #require(TestClient.request(port: server.port, "PUT", "/services/web/backends/web-2/weight",
                                                    body: "{ \"weight\": 7 }"))
        #expect(reply.status == 200)
        #expect(reply.body.contains("\"weight\":7"))
        #expect(server.target.backend("web", "web-2")?.weight == 7)
    }

    @Test(arguments: ["", "0", "-1", "abc", "2.5", "1001", "99999999999999999999", "{\"weight\": \"3\"}", "{\"w\": 3}"])
    func badWeightIs400AndChangesNothing(body: String) throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "PUT", "/services/web/backends/web-2/weight", body: body))
        #expect(reply.status == 400)
        #expect(server.target.backend("web", "web-2")?.weight == 1)
    }

    @Test func nodeDrainTurnsReadinessOffUntilResumed() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        #expect(TestClient.request(port: server.port, "GET", "/node-drain")?.status == 404)
        #expect(TestClient.request(port: server.port, "GET", "/drain")?.status == 405)
        let drained = try #require(TestClient.request(port: server.port, "POST", "/drain"))
        #expect(drained.status == 200)
        #expect(drained.body.contains("node drained by operator"))
        #expect(server.target.nodeDrainReason?.contains("drain from 127.0.0.1") == true)
        let unready = try #require(TestClient.request(port: server.port, "GET", "/readyz"))
        #expect(unready.status == 503)
        #expect(unready.body.contains("node drained by operator"))
        #expect(TestClient.request(port: server.port, "GET", "/status")?.body.contains("\"ready\":false") == true)
        #expect(TestClient.request(port: server.port, "POST", "/resume")?.status == 200)
        #expect(TestClient.request(port: server.port, "GET", "/readyz")?.status == 200)
    }

    @Test func nodeDrainNeedsTheToken() throws {
        let server = try RunningAdminServer(token: "s3cret")
        defer { server.stop() }
        #expect(TestClient.request(port: server.port, "POST", "/drain")?.status == 401)
        #expect(TestClient.request(port: server.port, "GET", "/readyz")?.status == 200)
        #expect(TestClient.request(port: server.port, "POST", "/drain", headers: ["Authorization": "Bearer s3cret"])?.status == 200)
        #expect(TestClient.request(port: server.port, "GET", "/readyz")?.status == 503)
    }

    @Test func shutdownReadinessWinsOverBackendHealth() throws {
        let target = FakeTarget()
        target.shuttingDown = true
        let server = try RunningAdminServer(target: target)
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "GET", "/readyz"))
        #expect(reply.status == 503)
        #expect(reply.body == "not ready: draining for shutdown\n")
    }

    @Test func crossOriginChangesAreRefused() throws {
        let server = try RunningAdminServer()
        defer { server.stop() }
        let reply = try #require(TestClient.request(port: server.port, "POST", "/services/web/backends/web-1/disable",
                                                    headers: ["Origin": "http://evil.example"]))
        #expect(reply.status == 403)
        #expect(server.target.backend("web", "web-1")?.admin == .enabled)
        let sameOrigin = try #require(TestClient.request(port: server.port, "POST", "/services/web/backends/web-1/disable",
                                                         headers: ["Origin": "http://127.0.0.1:\(server.port)"]))
        #expect(sameOrigin.status == 200)
    }

    @Test func withoutTokenNonLoopbackCallersAreRefused() throws {
        let target = FakeTarget()
        let router = AdminRouter(target: target, token: "", log: LogRecorder().logger, startedAtMs: 0)
        let request = HTTPRequest(method: "POST", path: "/services/web/backends/web-1/disable", query: "",
                                  version: "HTTP/1.1", headers: [], body: [])
        let remote = SocketAddress(Endpoint(host: "192.0.2.7", port: 40000))
        #expect(router.response(for: request, peer: remote).status == .forbidden)
        #expect(target.backend("web", "web-1")?.admin == .enabled)
        let mapped = SocketAddress(Endpoint(host: "::ffff:127.0.0.1", port: 40000))
        #expect(router.response(for: request, peer: mapped).status == .ok)
    }

    @Test func withoutTokenAHostNamedByDomainIsRefused() throws {
        let target = FakeTarget()
        let router = AdminRouter(target: target, token: "", log: LogRecorder().logger, startedAtMs: 0)
        let request = HTTPRequest(method: "POST", path: "/services/web/backends/web-1/disable", query: "",
                                  version: "HTTP/1.1", headers: [("host", "attacker.example:9000")], body: [])
        #expect(router.response(for: request, peer: SocketAddress(Endpoint(host: "127.0.0.1", port: 1))).status == .forbidden)
        #expect(RuntimeAPI.isAddressLiteralOrLocalhost("[::1]:9000"))
        #expect(RuntimeAPI.isAddressLiteralOrLocalhost("localhost"))
        #expect(RuntimeAPI.isAddressLiteralOrLocalhost("127.0.0.1:9000"))
        #expect(!RuntimeAPI.isAddressLiteralOrLocalhost("127.attacker.example:9000"))
        #expect(RuntimeAPI.isAddressLiteralOrLocalhost("0.0.0.0:9000"))
        #expect(!RuntimeAPI.isAddressLiteralOrLocalhost("admin.internal"))
    }

    @Test func tokenComparison() {
        #expect(RuntimeAPI.constantTimeEquals("abc", "abc"))
        #expect(!RuntimeAPI.constantTimeEquals("abc", "abd"))
        #expect(!RuntimeAPI.constantTimeEquals("abc", "abcd"))
        #expect(!RuntimeAPI.constantTimeEquals("", "a"))
    }
}
