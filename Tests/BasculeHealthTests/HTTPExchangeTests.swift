@testable import BasculeHealth
import BasculeConfig
import Testing

@Suite struct HTTPExchangeTests {
    private func feed(_ exchange: inout HTTPExchange, _ text: String) -> CheckVerdict? {
        Array(text.utf8).withUnsafeBytes { exchange.consume($0) }
    }

    @Test func theRequestNamesPathHostAndClosesTheConnection() {
        let exchange = HTTPExchange(path: "/health", host: "pub1.example", expectStatus: [200], expectBody: nil)
        #expect(String(decoding: exchange.request, as: UTF8.self)
                == "GET /health HTTP/1.1\r\nHost: pub1.example\r\nUser-Agent: bascule-health\r\nConnection: close\r\n\r\n")
    }

    @Test func theHostHeaderBracketsIPv6AndPrefersTheServerName() {
        #expect(HTTPExchange.hostHeader(serverName: nil, endpoint: Endpoint(host: "::1", port: 80)) == "[::1]")
        #expect(HTTPExchange.hostHeader(serverName: nil, endpoint: Endpoint(host: "127.0.0.1", port: 80)) == "127.0.0.1")
        #expect(HTTPExchange.hostHeader(serverName: "api.example", endpoint: Endpoint(host: "::1", port: 80)) == "api.example")
    }

    @Test func anExpectedStatusSucceedsAsSoonAsTheHeadIsIn() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200, 204], expectBody: nil)
        #expect(feed(&exchange, "HTTP/1.1 204 No") == nil)
        #expect(feed(&exchange, " Content\r\nServer: x\r\n\r\n") == .ok("http status 204"))
    }

    @Test func anUnexpectedStatusFailsWithTheStatus() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: nil)
        #expect(feed(&exchange, "HTTP/1.0 503 Service Unavailable\r\n\r\n") == .failed("http status 503"))
    }

    @Test func theBodySubstringMayArriveInPieces() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: "healthy")
        #expect(feed(&exchange, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nstatus: hea") == nil)
        #expect(feed(&exchange, "lthy!!!!!") == .ok("http status 200"))
    }

    @Test func aCompleteBodyWithoutTheSubstringFailsWithoutWaitingForEOF() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: "ok")
        #expect(feed(&exchange, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ndegraded")
                == .failed("body does not contain \"ok\""))
    }

    @Test func aBodyWithoutLengthIsJudgedAtEOF() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: "ok")
        #expect(feed(&exchange, "HTTP/1.0 200 OK\r\n\r\nnot yet") == nil)
        #expect(exchange.endOfStream() == .failed("body does not contain \"ok\""))
    }

    @Test func eofBeforeAnyResponseFails() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: nil)
        #expect(feed(&exchange, "HTTP/1.1 20") == nil)
        #expect(exchange.endOfStream() == .failed("http: connection closed before a response"))
    }

    @Test func garbageIsAMalformedResponse() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: nil)
        #expect(feed(&exchange, "SSH-2.0-OpenSSH_9.6\r\n\r\n") == .failed("http: malformed response"))
    }

    @Test func theResponseIsCappedAndAnEndlessHeadFails() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: nil, capacity: 64)
        #expect(feed(&exchange, "HTTP/1.1 200 OK\r\n" + String(repeating: "X-Pad: 1\r\n", count: 10)) != nil)
        #expect(exchange.parser.bytes.count == 64)
    }

    @Test func aSubstringBeyondTheCapIsNotFound() {
        var exchange = HTTPExchange(path: "/", host: "h", expectStatus: [200], expectBody: "needle", capacity: 64)
        let verdict = feed(&exchange, "HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "hay ", count: 20) + "needle")
        #expect(verdict == .failed("body does not contain \"needle\""))
    }
}
