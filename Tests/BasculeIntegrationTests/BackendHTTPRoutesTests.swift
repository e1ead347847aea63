import BasculeBackendService
import BasculeTestSupport
import Testing

@Suite("bascule-backend HTTP routes", .serialized, .timeLimit(.minutes(2)))
final class BackendHTTPRoutesTests {
    let backend: ManagedProcess
    let port: UInt16
    let client = TestHTTPClient()

    init() throws {
        (backend, port) = try BackendProcess.start(name: "routes-1")
    }

    deinit { backend.terminate() }

    @Test func healthAnswersOk() throws {
        let response = try client.get(port: port, path: "/health")
        #expect(response.status == 200)
        #expect(response.bodyText == "ok\n")
        #expect(response.header("X-Backend") == "routes-1")
        #expect(response.header("Content-Length") == "3")
        #expect(response.header("Content-Type")?.hasPrefix("text/plain") == true)
    }

    @Test func whoamiAnswersTheName() throws {
        let response = try client.get(port: port, path: "/whoami")
        #expect(response.status == 200)
        #expect(response.bodyText == "routes-1\n")
    }

    @Test func rootListsPackagesForThePublishingRole() throws {
        let response = try client.get(port: port, path: "/")
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix("application/xml") == true)
        #expect(response.bodyText.hasPrefix("<?xml"))
        #expect(response.bodyText.contains("<packages backend=\"routes-1\">"))
        #expect(response.bodyText.contains("href=\"/content/pkg-a?size="))
    }

    @Test(arguments: [(BackendRole.management, "application/json", "\"role\":\"management\""),
                      (BackendRole.reporting, "text/csv", "backend,metric,value")])
    func rootServesADocumentForTheRole(role: BackendRole, contentType: String, marker: String) throws {
        let (other, otherPort) = try BackendProcess.start(name: "role-\(role.rawValue)", role: role)
        defer { other.terminate() }
        let response = try client.get(port: otherPort, path: "/")
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix(contentType) == true)
        #expect(response.bodyText.contains(marker))
        #expect(response.bodyText.contains("role-\(role.rawValue)"))
    }

    @Test func contentServesTheGeneratedBytes() throws {
        let response = try client.get(port: port, path: "/content/pkg-a?size=100K")
        #expect(response.status == 200)
        #expect(response.header("Content-Length") == "102400")
        #expect(response.header("Accept-Ranges") == "bytes")
        #expect(response.header("Content-Type") == "application/octet-stream")
        #expect(response.body == ContentGenerator(name: "pkg-a").bytes(offset: 0, count: 102_400))
    }

    @Test func contentRangeAnswers206WithContentRange() throws {
        let response = try client.get(port: port, path: "/content/pkg-a?size=1000", headers: [("Range", "bytes=100-199")])
        #expect(response.status == 206)
        #expect(response.header("Content-Range") == "bytes 100-199/1000")
        #expect(response.body == ContentGenerator(name: "pkg-a").bytes(offset: 100, count: 100))
    }

    @Test func unsatisfiableRangeAnswers416() throws {
        let response = try client.get(port: port, path: "/content/pkg-a?size=1000", headers: [("Range", "bytes=1000-")])
        #expect(response.status == 416)
        #expect(response.header("Content-Range") == "bytes */1000")
        #expect(response.header("X-Backend") == "routes-1")
    }

    @Test func badSizeAnswers400() throws {
        #expect(try client.get(port: port, path: "/content/pkg-a?size=lots").status == 400)
    }

    @Test func unknownPathsAnswer404AndWrongMethods405() throws {
        #expect(try client.get(port: port, path: "/nope").status == 404)
        #expect(try client.get(port: port, path: "/content/").status == 404)
        let post = try client.request("POST", port: port, path: "/health")
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET, HEAD")
        #expect(try client.get(port: port, path: "/admin/fail").status == 405)
    }

    @Test func headAnswersWithoutABody() throws {
        let response = try client.request("HEAD", port: port, path: "/content/pkg-a?size=5M")
        #expect(response.status == 200)
        #expect(response.header("Content-Length") == "\(5 << 20)")
        #expect(response.body.isEmpty)
    }

    @Test func malformedRequestsAnswer400AndOversizedHeads431() throws {
        let bad = try client.connect(port: port)
        defer { bad.close() }
        let response = try bad.sendRaw(Array("GARBAGE\r\n\r\n".utf8))
        #expect(response.status == 400)
        #expect(response.header("Connection") == "close")

        let big = try client.connect(port: port)
        defer { big.close() }
        let huge = "GET / HTTP/1.1\r\nX-Fill: " + String(repeating: "a", count: 10_000) + "\r\n\r\n"
        #expect(try big.sendRaw(Array(huge.utf8)).status == 431)

        // The backend survived both.
        #expect(try client.get(port: port, path: "/health").status == 200)
    }

    @Test func expectContinueInvitesTheBody() throws {
        let socket = try TCPClient(port: port)
        defer { socket.close() }
        try socket.sendAll("POST /admin/recover HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        var interim: [UInt8] = []
        while !String(decoding: interim, as: UTF8.self).hasSuffix("\r\n\r\n") { interim += try socket.read(maxBytes: 1) }
        #expect(String(decoding: interim, as: UTF8.self) == "HTTP/1.1 100 Continue\r\n\r\n")
        try socket.sendAll("hello")
        let connection = HTTPClientConnection(socket: socket, host: "127.0.0.1", port: port)
        #expect(try connection.sendRaw([]).status == 200)
    }

    @Test func requestBodiesAreDiscarded() throws {
        let connection = try client.connect(port: port)
        defer { connection.close() }
        let first = try connection.request("POST", path: "/whoami", body: Array(repeating: 0x41, count: 100_000))
        #expect(first.status == 405)
        // Had the body not been consumed, it would be parsed as the next request.
        #expect(try connection.get("/whoami").bodyText == "routes-1\n")
    }
}
