/// Size limits for one request. The head limit covers the request line and every header,
/// so a client cannot make the server buffer more than head + body bytes per connection.
public struct HTTPLimits: Sendable {
    public var maxHeadBytes: Int
    public var maxBodyBytes: Int

    public init(maxHeadBytes: Int = 8 * 1024, maxBodyBytes: Int = 64 * 1024) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Parses an HTTP/1.0 or 1.1 request from the bytes received so far. Strict where leniency
/// has caused request smuggling elsewhere (no obsolete line folding, one Content-Length, no
/// Transfer-Encoding), and it rejects a bad request line as soon as that line is complete
/// instead of waiting for the whole head, so garbage is answered at once.
enum HTTPRequestParser {
    enum Outcome {
        case needMore
        case request(HTTPRequest)
        case failure(HTTPStatus, String)
    }

    static func parse(_ buffer: [UInt8], limits: HTTPLimits) -> Outcome {
        // A method is a short token; anything else in the first bytes is not HTTP.
        for (index, byte) in buffer.prefix(17).enumerated() {
            if byte == UInt8(ascii: " ") {
                if index == 0 { return .failure(.badRequest, "empty method") }
                break
            }
            guard isTokenByte(byte) else { return .failure(.badRequest, "malformed request line") }
            if index == 16 { return .failure(.badRequest, "method too long") }
        }

        // Lines end in CRLF only. A bare LF is answered at once: waiting for a CRLF that a
        // client ending lines in LF will never send would hold its connection until the
        // deadline, and a proxy in front that splits lines differently could smuggle a header.
        let headEnd = find(crlfcrlf, in: buffer, limit: limits.maxHeadBytes)
        for index in 0..<min(headEnd ?? buffer.count, limits.maxHeadBytes) where buffer[index] == 10 {
            if index == 0 || buffer[index - 1] != 13 { return .failure(.badRequest, "bare LF line ending (lines must end in CRLF)") }
        }
        guard let headEnd else {
            if let lineEnd = find(crlf, in: buffer, limit: limits.maxHeadBytes) {
                if case .failure(let status, let reason) = parseRequestLine(buffer[..<lineEnd]) { return .failure(status, reason) }
            }
            if buffer.count >= limits.maxHeadBytes {
                return .failure(.headersTooLarge, "request line and headers exceed \(limits.maxHeadBytes) bytes")
            }
            return .needMore
        }

        var lines = split(buffer[..<headEnd])
        let requestLine: (method: String, target: String, version: String)
        switch parseRequestLine(lines.removeFirst()) {
        case .failure(let status, let reason): return .failure(status, reason)
        case .line(let parsed): requestLine = parsed
        }

        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let first = line.first else { continue }
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                return .failure(.badRequest, "obsolete header line folding")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[..<colon].allSatisfy(isTokenByte) else {
                return .failure(.badRequest, "malformed header line")
            }
            let valueBytes = line[(colon + 1)...].drop { $0 == 32 || $0 == 9 }
            guard valueBytes.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else {
                return .failure(.badRequest, "control character in header value")
            }
            var value = String(decoding: valueBytes, as: UTF8.self)
            while value.last == " " || value.last == "\t" { value.removeLast() }
            headers.append((String(decoding: line[..<colon], as: UTF8.self).lowercased(), value))
        }

        if headers.contains(where: { $0.name == "transfer-encoding" }) {
            return .failure(.notImplemented, "Transfer-Encoding is not supported; send Content-Length")
        }
        let lengths = headers.filter { $0.name == "content-length" }.map(\.value)
        var bodyLength = 0
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.count <= 18,
                  first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let length = Int(first) else {
                return .failure(.badRequest, "invalid Content-Length")
            }
            guard length <= limits.maxBodyBytes else {
                return .failure(.contentTooLarge, "body exceeds \(limits.maxBodyBytes) bytes")
            }
            bodyLength = length
        }
        let bodyStart = headEnd + 4
        guard buffer.count >= bodyStart + bodyLength else { return .needMore }

        let target = requestLine.target
        let path: Substring, query: Substring
        if let mark = target.firstIndex(of: "?") {
            path = target[..<mark]
            query = target[target.index(after: mark)...]
        } else {
            path = target[...]
            query = ""
        }
        return .request(HTTPRequest(method: requestLine.method, path: String(path), query: String(query),
                                    version: requestLine.version, headers: headers,
                                    body: Array(buffer[bodyStart..<(bodyStart + bodyLength)])))
    }

    private enum RequestLine {
        case line((method: String, target: String, version: String))
        case failure(HTTPStatus, String)
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) -> RequestLine {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte),
              parts[1].first == UInt8(ascii: "/"), parts[1].allSatisfy({ $0 > 32 && $0 < 127 }) else {
            return .failure(.badRequest, "malformed request line")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return version.hasPrefix("HTTP/") ? .failure(.versionNotSupported, "unsupported HTTP version")
                                              : .failure(.badRequest, "malformed request line")
        }
        return .line((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self), version))
    }

    private static let crlf: [UInt8] = [13, 10]
    private static let crlfcrlf: [UInt8] = [13, 10, 13, 10]

    /// The index where `needle` starts, when all of it lies within the first `limit` bytes.
    /// (Letting it end past `limit` accepted a head up to three bytes over the limit, and only
    /// when it arrived in one read: a read ending at the limit was already refused.)
    private static func find(_ needle: [UInt8], in buffer: [UInt8], limit: Int) -> Int? {
        let end = min(buffer.count, limit) - needle.count
        guard end >= 0 else { return nil }
        var index = 0
        while index <= end {
            if buffer[index] == needle[0] && buffer[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    private static func split(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        var index = head.startIndex
        while index < head.endIndex {
            if head[index] == 13 && index + 1 < head.endIndex && head[index + 1] == 10 {
                lines.append(head[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        lines.append(head[start..<head.endIndex])
        return lines
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
