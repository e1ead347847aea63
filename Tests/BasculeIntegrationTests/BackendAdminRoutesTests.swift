import BasculeTestSupport
import Testing

@Suite("bascule-backend admin routes", .serialized, .timeLimit(.minutes(2)))
final class BackendAdminRoutesTests {
    let backend: ManagedProcess
    let port: UInt16
    let client = TestHTTPClient()

    init() throws {
        (backend, port) = try BackendProcess.start(name: "admin-1")
    }

    deinit { backend.terminate() }

    @Test func failMakesHealthAnswer503UntilRecover() throws {
        #expect(try client.request("POST", port: port, path: "/admin/fail").status == 200)
        let failing = try client.get(port: port, path: "/health")
        #expect(failing.status == 503)
        #expect(failing.bodyText == "failing\n")
        #expect(failing.header("X-Backend") == "admin-1")
        // Other routes keep working: only health reports the failure.
        #expect(try client.get(port: port, path: "/whoami").status == 200)

        #expect(try client.request("POST", port: port, path: "/admin/recover").status == 200)
        #expect(try client.get(port: port, path: "/health").status == 200)
    }

    @Test func slowDelaysEveryResponseUntilRecover() throws {
        #expect(try client.request("POST", port: port, path: "/admin/slow?ms=300").status == 200)
        for path in ["/health", "/whoami"] {
            let started = ContinuousClock.now
            #expect(try client.get(port: port, path: path).status == 200)
            #expect(ContinuousClock.now - started >= .milliseconds(300), "\(path) was not delayed")
        }
        #expect(try client.request("POST", port: port, path: "/admin/recover").status == 200)
        let started = ContinuousClock.now
        #expect(try client.get(port: port, path: "/health").status == 200)
        #expect(ContinuousClock.now - started < .milliseconds(250))
    }

    @Test func slowRequiresAValidDelay() throws {
        #expect(try client.request("POST", port: port, path: "/admin/slow").status == 400)
        #expect(try client.request("POST", port: port, path: "/admin/slow?ms=-5").status == 400)
    }
}
