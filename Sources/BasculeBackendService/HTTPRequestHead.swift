/// The request line and headers of an HTTP/1.x request, parsed from raw bytes.
///
/// The parser is total: any input yields `.incomplete`, `.complete` or `.invalid`, never a
/// trap, because it faces whatever a client (or a fuzzing test) sends.
public struct HTTPRequestHead: Sendable, Equatable {
    public static let maximumHeadSize = 8 * 1024

    public var method: String
    /// The request target as sent (`/content/a?size=1K`).
    public var target: String
    public var versionMajor: Int
    public var versionMinor: Int
    /// Header fields in order, names as sent.
    public var headers: [(name: String, value: String)]

    public enum ParseResult: Sendable, Equatable {
        case incomplete
        /// `headLength` bytes (including the blank line) belong to the head; a body may follow.
        case complete(HTTPRequestHead, headLength: Int)
        case invalid(HTTPParseError)
    }

    public init(method: String, target: String, versionMajor: Int = 1, versionMinor: Int = 1,
                headers: [(name: String, value: String)] = []) {
        self.method = method
        self.target = target
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.headers = headers
    }

    public static func == (lhs: HTTPRequestHead, rhs: HTTPRequestHead) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target
            && lhs.versionMajor == rhs.versionMajor && lhs.versionMinor == rhs.versionMinor
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    public var path: Substring {
        target.firstIndex(of: "?").map { target[..<$0] } ?? target[...]
    }

    /// Query parameters (`a=1&b=2`); a repeated name keeps its first value.
    public var queryItems: [String: String] {
        guard let mark = target.firstIndex(of: "?") else { return [:] }
        var items: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            if items[name] == nil { items[name] = parts.count > 1 ? String(parts[1]) : "" }
        }
        return items
    }

    /// HTTP/1.1 stays open unless `Connection: close`; HTTP/1.0 closes unless `keep-alive`.
    public var keepAlive: Bool {
        let tokens = (header("Connection") ?? "").lowercased()
            .split(separator: ",").map { $0.trimmingSpaces() }
        if tokens.contains("close") { return false }
        if versionMajor == 1 && versionMinor == 0 { return tokens.contains("keep-alive") }
        return true
    }

    /// The declared body length: nil when absent, or `.invalid` content when malformed.
    public func contentLength() throws(HTTPParseError) -> UInt64? {
        let values = headers.filter { $0.name.lowercased() == "content-length" }.map { $0.value }
        guard let first = values.first else { return nil }
        // Differing duplicates are a request-smuggling vector: refuse rather than guess.
        guard values.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let length = UInt64(first) else {
            throw .badContentLength
        }
        return length
    }

    public static func parse(_ bytes: [UInt8]) -> ParseResult {
        bytes.withUnsafeBytes { parse($0) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ParseResult {
        guard let headLength = endOfHead(in: bytes) else {
            return bytes.count >= maximumHeadSize ? .invalid(.headTooLarge) : .incomplete
        }
        guard headLength <= maximumHeadSize else { return .invalid(.headTooLarge) }

        var lines: [Substring] = []
        // Lines end in CRLF; a bare LF is tolerated (RFC 9112 §2.2), a lone CR is not text we serve.
        guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[0..<headLength]), as: UTF8.self) else {
            return .invalid(.malformed("head is not valid UTF-8"))
        }
        // Split on scalars, not Characters: "\r\n" is one grapheme and would never match "\n".
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(rawLine)
            if line.unicodeScalars.last == "\r" { line = Substring(line.unicodeScalars.dropLast()) }
            lines.append(line)
        }
        // Leading blank lines before the request line are allowed and skipped (RFC 9112 §2.2).
        while let first = lines.first, first.isEmpty, lines.count > 1 { lines.removeFirst() }
        guard let requestLine = lines.first, !requestLine.isEmpty else { return .invalid(.malformed("empty request line")) }

        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .invalid(.malformed("request line is not METHOD TARGET VERSION"))
        }
        guard parts[0].utf8.allSatisfy(isTokenByte) else { return .invalid(.malformed("bad method")) }
        let version = parts[2]
        guard version.hasPrefix("HTTP/"), version.count == 8 else {
            return .invalid(.malformed("bad version '\(version)'"))
        }
        let digits = Array(version.utf8.dropFirst(5))
        guard digits[1] == UInt8(ascii: "."), (0x30...0x39).contains(digits[0]), (0x30...0x39).contains(digits[2]) else {
            return .invalid(.malformed("bad version '\(version)'"))
        }
        let major = Int(digits[0] - 0x30)
        let minor = Int(digits[2] - 0x30)
        guard major == 1 else { return .invalid(.unsupportedVersion) }

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .invalid(.malformed("header without ':'")) }
            let name = line[..<colon]
            // Whitespace before the colon is forbidden (RFC 9112 §5.1): it hides smuggled headers.
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else {
                return .invalid(.malformed("bad header name"))
            }
            headers.append((String(name), String(line[line.index(after: colon)...].trimmingSpaces())))
        }
        let head = HTTPRequestHead(method: String(parts[0]), target: String(parts[1]),
                                   versionMajor: major, versionMinor: minor, headers: headers)
        return .complete(head, headLength: headLength)
    }

    /// Index just past the blank line ending the head (`\r\n\r\n` or `\n\n`), if present.
    static func endOfHead(in bytes: UnsafeRawBufferPointer) -> Int? {
        let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        // Empty lines before the request line are tolerated, so they cannot end the head.
        var index = 0
        while index < bytes.count, bytes[index] == cr || bytes[index] == lf { index += 1 }
        let limit = min(bytes.count, maximumHeadSize + 4)
        while index < limit {
            guard let found = UnsafeRawBufferPointer(rebasing: bytes[index..<limit]).firstIndex(of: lf) else {
                return nil
            }
            let position = index + found
            if position + 1 < bytes.count, bytes[position + 1] == lf { return position + 2 }
            if position + 2 < bytes.count, bytes[position + 1] == cr, bytes[position + 2] == lf { return position + 3 }
            index = position + 1
        }
        return nil
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

public enum HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case headTooLarge
    case unsupportedVersion
    case badContentLength
    case malformed(String)

    public var description: String {
        switch self {
        case .headTooLarge: "request head exceeds \(HTTPRequestHead.maximumHeadSize) bytes"
        case .unsupportedVersion: "only HTTP/1.x is supported"
        case .badContentLength: "invalid or conflicting Content-Length"
        case .malformed(let reason): "malformed request: \(reason)"
        }
    }

    /// The status a server answers with before closing.
    public var status: Int {
        switch self {
        case .headTooLarge: 431
        case .unsupportedVersion: 505
        case .badContentLength, .malformed: 400
        }
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
