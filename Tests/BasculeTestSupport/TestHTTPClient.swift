#if canImport(Glibc)
import Glibc
#endif

/// A response as a test sees it.
public struct TestHTTPResponse {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// First value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// What a streaming download saw.
public struct TestDownload {
    public var status: Int
    public var headers: [(name: String, value: String)]
    /// Body bytes handed to the callback.
    public var bytesReceived: UInt64
    /// True when the whole declared body arrived; false when stopped early by `stopAfter`.
    public var complete: Bool

    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

public struct TestHTTPError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) { self.description = description }
}

/// A minimal blocking HTTP/1.1 client for loopback tests. Bodies are delimited by
/// Content-Length or by the server closing; chunked encoding is not supported (nothing
/// here sends it). Every socket operation is bounded by `timeout`.
public struct TestHTTPClient {
    public var host = "127.0.0.1"
    public var timeout: Duration = .seconds(10)
    /// The local address to connect from (any of 127.0.0.0/8 on loopback), for client hashing.
    public var source: String?

    public init(host: String = "127.0.0.1", timeout: Duration = .seconds(10), source: String? = nil) {
        self.host = host
        self.timeout = timeout
        self.source = source
    }

    /// One GET on a fresh connection (`Connection: close`).
    public func get(port: UInt16, path: String, headers: [(String, String)] = []) throws -> TestHTTPResponse {
        try request("GET", port: port, path: path, headers: headers)
    }

    /// One request on a fresh connection (`Connection: close`).
    public func request(_ method: String, port: UInt16, path: String, headers: [(String, String)] = [],
                 body: [UInt8] = []) throws -> TestHTTPResponse {
        let connection = try connect(port: port)
        defer { connection.close() }
        return try connection.request(method, path: path, headers: headers + [("Connection", "close")], body: body)
    }

    /// A keep-alive connection for several requests in a row.
    public func connect(port: UInt16) throws -> HTTPClientConnection {
        try HTTPClientConnection(socket: TCPClient(host: host, port: port, timeout: timeout, source: source), host: host, port: port)
    }

    /// Streams a GET's body into `onBody` without keeping it, stopping (and closing the
    /// connection) once `stopAfter` body bytes arrived, if given. The callback gets exactly the
    /// bytes up to that limit, so a test can hash the first K bytes and resume with a Range.
    public func download(port: UInt16, path: String, headers: [(String, String)] = [], stopAfter: UInt64? = nil,
                  onBody: (UnsafeRawBufferPointer) throws -> Void) throws -> TestDownload {
        let connection = try connect(port: port)
        defer { connection.close() }
        return try connection.download(path: path, headers: headers + [("Connection", "close")],
                                       stopAfter: stopAfter, onBody: onBody)
    }
}

/// One client connection that can carry several requests (HTTP/1.1 keep-alive).
public final class HTTPClientConnection {
    public let socket: TCPClient
    private let hostHeader: String
    /// Bytes read past the current response (the start of the next one, or body bytes).
    private var buffered: [UInt8] = []
    private var peerClosed = false

    public init(socket: TCPClient, host: String, port: UInt16) {
        self.socket = socket
        hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public func close() { socket.close() }

    /// Sends a request and reads the whole response.
    public func request(_ method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> TestHTTPResponse {
        try sendRequest(method, path: path, headers: headers, body: body)
        let (status, responseHeaders) = try readHead()
        var response = TestHTTPResponse(status: status, headers: responseHeaders, body: [])
        try readBody(method: method, status: status, headers: responseHeaders, stopAfter: nil) { chunk in
            response.body += chunk
        }
        return response
    }

    public func get(_ path: String, headers: [(String, String)] = []) throws -> TestHTTPResponse {
        try request("GET", path: path, headers: headers)
    }

    /// As `TestHTTPClient.download`, on this connection. Stopping early leaves the connection
    /// unusable for further requests (the rest of the body is still in flight).
    public func download(path: String, headers: [(String, String)] = [], stopAfter: UInt64? = nil,
                  onBody: (UnsafeRawBufferPointer) throws -> Void) throws -> TestDownload {
        try sendRequest("GET", path: path, headers: headers, body: [])
        let (status, responseHeaders) = try readHead()
        var received: UInt64 = 0
        let complete = try readBody(method: "GET", status: status, headers: responseHeaders, stopAfter: stopAfter) { chunk in
            received += UInt64(chunk.count)
            try onBody(chunk)
        }
        return TestDownload(status: status, headers: responseHeaders, bytesReceived: received, complete: complete)
    }

    /// Sends raw bytes (for malformed-request tests), then reads one response.
    public func sendRaw(_ bytes: [UInt8]) throws -> TestHTTPResponse {
        try socket.sendAll(bytes)
        let (status, responseHeaders) = try readHead()
        var response = TestHTTPResponse(status: status, headers: responseHeaders, body: [])
        try readBody(method: "GET", status: status, headers: responseHeaders, stopAfter: nil) { response.body += $0 }
        return response
    }

    private func sendRequest(_ method: String, path: String, headers: [(String, String)], body: [UInt8]) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try socket.sendAll(Array(head.utf8) + body)
    }

    private func fill() throws -> Bool {
        guard !peerClosed else { return false }
        let chunk = try socket.read(maxBytes: 256 * 1024)
        if chunk.isEmpty {
            peerClosed = true
            return false
        }
        buffered += chunk
        return true
    }

    private func readHead() throws -> (Int, [(name: String, value: String)]) {
        while true {
            if let end = headEnd() {
                let text = String(decoding: buffered[0..<end], as: UTF8.self)
                buffered.removeFirst(end)
                let lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
                guard let statusLine = lines.first else { throw TestHTTPError(description: "empty response head") }
                let parts = statusLine.split(separator: " ", maxSplits: 2)
                guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
                    throw TestHTTPError(description: "bad status line: \(statusLine)")
                }
                var headers: [(name: String, value: String)] = []
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { throw TestHTTPError(description: "bad header line: \(line)") }
                    headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters()))
                }
                // Interim responses (100 Continue) precede the real one.
                if (100..<200).contains(status) { continue }
                return (status, headers)
            }
            if buffered.count > 64 * 1024 { throw TestHTTPError(description: "response head larger than 64 KiB") }
            guard try fill() else {
                throw TestHTTPError(description: "connection closed before a complete response head (\(buffered.count) bytes)")
            }
        }
    }

    private func headEnd() -> Int? {
        guard buffered.count >= 4 else { return nil }
        for index in 0...(buffered.count - 4)
        where buffered[index] == 13 && buffered[index + 1] == 10 && buffered[index + 2] == 13 && buffered[index + 3] == 10 {
            return index + 4
        }
        return nil
    }

    /// Returns whether the body was read completely.
    @discardableResult
    private func readBody(method: String, status: Int, headers: [(name: String, value: String)], stopAfter: UInt64?,
                          _ onChunk: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        if method == "HEAD" || status == 204 || status == 304 { return true }
        let lengthText = headers.first { $0.name.lowercased() == "content-length" }?.value
        if headers.contains(where: { $0.name.lowercased() == "transfer-encoding" }) {
            throw TestHTTPError(description: "chunked responses are not supported by TestHTTPClient")
        }
        let declared = lengthText.flatMap { UInt64($0) }
        if lengthText != nil && declared == nil { throw TestHTTPError(description: "bad Content-Length \(lengthText!)") }
        let limit = min(declared ?? .max, stopAfter ?? .max)
        var delivered: UInt64 = 0
        while delivered < limit {
            if buffered.isEmpty {
                guard try fill() else {
                    if declared == nil { return true }
                    throw TestHTTPError(description: "connection closed after \(delivered) of \(declared!) body bytes")
                }
            }
            let take = Int(min(UInt64(buffered.count), limit - delivered))
            try buffered.withUnsafeBytes { try onChunk(UnsafeRawBufferPointer(rebasing: $0[0..<take])) }
            buffered.removeFirst(take)
            delivered += UInt64(take)
        }
        return declared.map { delivered == $0 } ?? false
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
