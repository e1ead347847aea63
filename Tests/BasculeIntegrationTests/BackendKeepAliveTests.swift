import BasculeBackendService
import BasculeTestSupport
import Testing

@Suite("bascule-backend keep-alive", .serialized, .timeLimit(.minutes(2)))
final class BackendKeepAliveTests {
    let backend: ManagedProcess
    let port: UInt16

    init() throws {
        (backend, port) = try BackendProcess.start(name: "keepalive-1")
    }

    deinit { backend.terminate() }

    @Test func servesSeveralRequestsOnOneConnection() throws {
        let connection = try TestHTTPClient().connect(port: port)
        defer { connection.close() }
        for index in 0..<20 {
            let path = index % 2 == 0 ? "/whoami" : "/content/ka?size=\(1000 + index)"
            let response = try connection.get(path)
            #expect(response.status == 200)
            #expect(response.header("Connection") == nil)
        }
        #expect(try connection.get("/content/ka?size=3M").body.count == 3 << 20)
        #expect(try connection.get("/health").bodyText == "ok\n")
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        let socket = try TCPClient(port: port)
        try socket.sendAll("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = String(decoding: try socket.readToEOF(), as: UTF8.self)
        let responses = text.split(separator: "HTTP/1.1 ").map(String.init)
        #expect(responses.count == 2)
        #expect(responses.first?.hasSuffix("\r\n\r\nkeepalive-1\n") == true)
        #expect(responses.last?.hasSuffix("\r\n\r\nok\n") == true)
    }

    @Test func connectionCloseIsHonoured() throws {
        let socket = try TCPClient(port: port)
        try socket.sendAll("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = String(decoding: try socket.readToEOF(), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(text.contains("Connection: close\r\n"))
    }

    @Test func http10ClosesUnlessKeepAliveIsAsked() throws {
        let closing = try TCPClient(port: port)
        try closing.sendAll("GET /health HTTP/1.0\r\n\r\n")
        #expect(String(decoding: try closing.readToEOF(), as: UTF8.self).hasSuffix("ok\n"))

        let kept = try HTTPClientConnection(socket: TCPClient(port: port), host: "127.0.0.1", port: port)
        defer { kept.close() }
        let response = try kept.sendRaw(Array("GET /whoami HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))
        #expect(response.header("Connection") == "keep-alive")
        #expect(try kept.sendRaw(Array("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8)).bodyText == "ok\n")
    }
}
