import BasculeConfig

/// What one check concluded, and the words the operator will read.
struct CheckVerdict: Sendable, Equatable {
    var success: Bool
    var reason: String

    static func ok(_ reason: String) -> CheckVerdict { CheckVerdict(success: true, reason: reason) }
    static func failed(_ reason: String) -> CheckVerdict { CheckVerdict(success: false, reason: reason) }
}

/// One HTTP health-check request and the judgement of its response against the service's
/// `expectStatus` and `expectBody`. Pure: the probe feeds it bytes from a plain or TLS socket.
struct HTTPExchange: Sendable {
    let request: [UInt8]
    private let expectStatus: [Int]
    private let expectBody: String?
    private let expectBodyBytes: [UInt8]?
    private(set) var parser: HTTPResponseParser

    init(path: String, host: String, expectStatus: [Int], expectBody: String?,
         capacity: Int = HTTPResponseParser.defaultCapacity) {
        // Connection: close lets a body without Content-Length end at EOF, and spares the
        // backend an idle keep-alive connection per check.
        request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: bascule-health\r\nConnection: close\r\n\r\n".utf8)
        self.expectStatus = expectStatus
        self.expectBody = expectBody.flatMap { $0.isEmpty ? nil : $0 }
        expectBodyBytes = self.expectBody.map { Array($0.utf8) }
        parser = HTTPResponseParser(capacity: capacity)
    }

    /// Host header value: IPv6 literals need their brackets back.
    static func hostHeader(serverName: String?, endpoint: Endpoint) -> String {
        if let name = serverName, !name.isEmpty { return name }
        return endpoint.isIPv6 ? "[\(endpoint.host)]" : endpoint.host
    }

    /// Feeds response bytes; a verdict as soon as one can be given, nil while more is needed.
    mutating func consume(_ chunk: UnsafeRawBufferPointer) -> CheckVerdict? {
        parser.append(chunk)
        return judge(atEnd: false)
    }

    /// The peer closed (or the stream ended): a verdict with whatever arrived.
    mutating func endOfStream() -> CheckVerdict {
        judge(atEnd: true) ?? .failed("http: connection closed before a response")
    }

    private func judge(atEnd: Bool) -> CheckVerdict? {
        if parser.isMalformed { return .failed("http: malformed response") }
        guard let status = parser.status else {
            if parser.isFull { return .failed("http: response head exceeds \(parser.capacity / 1024) KiB") }
            return atEnd ? .failed("http: connection closed before a response") : nil
        }
        guard expectStatus.contains(status) else { return .failed("http status \(status)") }
        guard let needle = expectBodyBytes, let expectBody else { return .ok("http status \(status)") }
        if HTTPResponseParser.find(needle, in: parser.body) != nil { return .ok("http status \(status)") }
        // Chunked bodies are searched as they arrive, chunk-size lines included: a substring
        // split across two chunks is missed, which a health endpoint's tiny body never does.
        if atEnd || parser.bodyComplete || parser.isFull {
            return .failed("body does not contain \"\(expectBody)\"")
        }
        return nil
    }
}
