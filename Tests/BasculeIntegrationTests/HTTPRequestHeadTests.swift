import BasculeBackendService
import BasculeTestSupport
import Testing

@Suite("HTTPRequestHead parsing")
struct HTTPRequestHeadTests {
    private func parse(_ text: String) -> HTTPRequestHead.ParseResult {
        HTTPRequestHead.parse(Array(text.utf8))
    }

    @Test func parsesRequestLineHeadersAndQuery() throws {
        let text = "GET /content/pkg-a?size=1K&x=2 HTTP/1.1\r\nHost: a\r\nRange:  bytes=0-9 \r\n\r\nBODY"
        guard case .complete(let head, let length) = parse(text) else {
            Issue.record("expected a complete head"); return
        }
        #expect(length == text.utf8.count - 4)
        #expect(head.method == "GET")
        #expect(head.path == "/content/pkg-a")
        #expect(head.queryItems == ["size": "1K", "x": "2"])
        #expect(head.header("range") == "bytes=0-9")
        #expect(head.header("HOST") == "a")
        #expect(head.keepAlive)
    }

    @Test func reportsIncompleteUntilTheBlankLine() {
        #expect(parse("GET / HTTP/1.1\r\nHost: a\r\n") == .incomplete)
        #expect(parse("GET / HT") == .incomplete)
        #expect(parse("") == .incomplete)
    }

    @Test func toleratesBareLineFeedsAndLeadingBlankLines() {
        guard case .complete(let head, _) = parse("\r\nGET /health HTTP/1.0\nHost: a\n\n") else {
            Issue.record("expected a complete head"); return
        }
        #expect(head.path == "/health")
        #expect(!head.keepAlive)
    }

    @Test func decidesKeepAliveByVersionAndConnectionHeader() {
        func keepAlive(_ text: String) -> Bool? {
            if case .complete(let head, _) = parse(text) { return head.keepAlive }
            return nil
        }
        #expect(keepAlive("GET / HTTP/1.1\r\n\r\n") == true)
        #expect(keepAlive("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == true)
    }

    @Test func rejectsMalformedHeads() {
        for text in ["GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/x.y\r\n\r\n",
                     "G(T / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                     "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET / HTTP/1.1\r\n: empty\r\n\r\n"] {
            guard case .invalid(let error) = parse(text) else {
                Issue.record("accepted \(text.debugDescription)"); continue
            }
            #expect(error.status == 400)
        }
        guard case .invalid(let error) = parse("GET / HTTP/2.0\r\n\r\n") else {
            Issue.record("accepted HTTP/2.0"); return
        }
        #expect(error.status == 505)
    }

    @Test func rejectsHeadsLargerThanTheLimitWith431() {
        let big = "GET / HTTP/1.1\r\nX-Fill: " + String(repeating: "a", count: HTTPRequestHead.maximumHeadSize)
        #expect(parse(big) == .invalid(.headTooLarge))
        #expect(parse(big + "\r\n\r\n") == .invalid(.headTooLarge))
    }

    @Test func neverTrapsOnArbitraryBytes() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("GET /:\r\n HTTP/1.1\u{0}\u{ff}é".utf8)
        for _ in 0..<2_000 {
            let length = Int.random(in: 0..<200, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            _ = HTTPRequestHead.parse(bytes)
        }
    }

    @Test func validatesContentLength() throws {
        func length(_ headers: String) throws -> UInt64? {
            guard case .complete(let head, _) = parse("POST / HTTP/1.1\r\n\(headers)\r\n") else { return nil }
            return try head.contentLength()
        }
        #expect(try length("Content-Length: 12\r\n") == 12)
        #expect(try length("") == nil)
        #expect(try length("Content-Length: 5\r\nContent-Length: 5\r\n") == 5)
        #expect(throws: HTTPParseError.badContentLength) { try length("Content-Length: 5\r\nContent-Length: 6\r\n") }
        #expect(throws: HTTPParseError.badContentLength) { try length("Content-Length: -1\r\n") }
        #expect(throws: HTTPParseError.badContentLength) { try length("Content-Length: 1e3\r\n") }
    }
}

@Suite("Sizes and ranges")
struct ByteCountAndRangeTests {
    @Test func parsesSizesWithBinarySuffixes() {
        #expect(ByteCount.parse("1048576") == 1_048_576)
        #expect(ByteCount.parse("64K") == 65_536)
        #expect(ByteCount.parse("64KiB") == 65_536)
        #expect(ByteCount.parse("3M") == 3 << 20)
        #expect(ByteCount.parse("3mib") == 3 << 20)
        #expect(ByteCount.parse("2G") == 2 << 30)
        #expect(ByteCount.parse("2GiB") == 2 << 30)
        #expect(ByteCount.parse("") == nil)
        #expect(ByteCount.parse("K") == nil)
        #expect(ByteCount.parse("12Q") == nil)
        #expect(ByteCount.parse("99999999999999999999G") == nil)
    }

    @Test func resolvesRangesAgainstTheLength() {
        #expect(ByteRangeRequest.resolve(nil, length: 100) == .full)
        #expect(ByteRangeRequest.resolve("bytes=0-9", length: 100) == .partial(first: 0, last: 9))
        #expect(ByteRangeRequest.resolve("bytes=50-", length: 100) == .partial(first: 50, last: 99))
        #expect(ByteRangeRequest.resolve("bytes=90-500", length: 100) == .partial(first: 90, last: 99))
        #expect(ByteRangeRequest.resolve("bytes=-10", length: 100) == .partial(first: 90, last: 99))
        #expect(ByteRangeRequest.resolve("bytes=100-", length: 100) == .unsatisfiable)
        #expect(ByteRangeRequest.resolve("bytes=0-", length: 0) == .unsatisfiable)
        #expect(ByteRangeRequest.resolve("bytes=9-1", length: 100) == .full)
        #expect(ByteRangeRequest.resolve("bytes=0-1,5-6", length: 100) == .full)
        #expect(ByteRangeRequest.resolve("items=0-1", length: 100) == .full)
    }
}
