import BasculePosix
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A reply as `TestClient` parsed it: enough for tests that send raw, often malformed, bytes.
public struct HTTPReply: Sendable {
    public let status: Int
    public let headers: [String: String]
    public let body: String
    public let raw: String

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Raw HTTP exchanges on loopback for servers under test that may answer garbage or nothing:
/// every call answers nil or what arrived instead of throwing, and every socket has a receive
/// and send timeout, so a server bug fails a test instead of hanging it.
/// (`TestHTTPClient` is the strict client, for well-formed servers.)
public enum TestClient {
    /// A connected descriptor; the caller closes it. `source` binds another loopback address
    /// first, to be another peer.
    public static func connect(port: UInt16, timeoutSeconds: Int = 5, source: String? = nil) -> Int32 {
        do {
            return try BlockingSocket.connect(to: testAddress("127.0.0.1", port), timeoutSeconds: Double(timeoutSeconds),
                                              source: source.map { testAddress($0, 0) })
        } catch {
            preconditionFailure("connect to 127.0.0.1:\(port) failed: \(error)")
        }
    }

    /// Sends what it can; a peer that closed early simply stops the send.
    public static func send(_ fd: Int32, _ bytes: [UInt8]) {
        try? BlockingSocket.writeAll(fd, bytes)
    }

    /// Everything until the server closes (or the timeout passes).
    public static func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { (try? BlockingSocket.read(fd, into: $0)) ?? 0 }
            if count <= 0 { return out }
            out += chunk[0..<count]
        }
    }

    public static func exchange(port: UInt16, raw: [UInt8]) -> HTTPReply? {
        let fd = connect(port: port)
        defer { close(fd) }
        send(fd, raw)
        return parse(readAll(fd))
    }

    public static func request(port: UInt16, _ method: String, _ path: String, headers: [String: String] = [:],
                               body: String? = nil) -> HTTPReply? {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        return exchange(port: port, raw: Array(text.utf8))
    }

    public static func parse(_ bytes: [UInt8]) -> HTTPReply? {
        let raw = String(decoding: bytes, as: UTF8.self)
        guard let split = raw.range(of: "\r\n\r\n") else { return nil }
        let lines = raw[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPReply(status: status, headers: headers, body: String(raw[split.upperBound...]), raw: raw)
    }
}
