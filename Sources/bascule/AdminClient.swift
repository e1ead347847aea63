import BasculeConfig
import Glibc

/// A blocking HTTP/1.1 client for the admin endpoint: one request per connection, bounded by
/// a timeout, loopback or wherever `admin.listen` points.
struct AdminClient {
    let endpoint: Endpoint
    let token: String
    var timeoutSeconds = 5

    struct Response {
        let status: Int
        let body: String
    }

    func send(method: String, path: String, body: String = "") throws -> Response {
        let family = endpoint.isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DemoError(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var storage = sockaddr_storage()
        var length: socklen_t
        if endpoint.isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = endpoint.port.bigEndian
            inet_pton(AF_INET6, endpoint.host, &address.sin6_addr)
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: address) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = endpoint.port.bigEndian
            inet_pton(AF_INET, endpoint.host, &address.sin_addr)
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: address) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard connected == 0 else {
            throw DemoError(description: "cannot reach the admin endpoint at \(endpoint): \(String(cString: strerror(errno))) (is bascule running with this config?)")
        }

        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint)\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
        if !token.isEmpty { request += "Authorization: Bearer \(token)\r\n" }
        request += "\r\n" + body
        var bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { throw DemoError(description: "sending to \(endpoint): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while response.count < 16 * 1024 * 1024 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw DemoError(description: "reading from \(endpoint): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            response.append(contentsOf: chunk[0..<n])
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        let headEnd = response.indices.first { response[$0...].starts(with: separator) }
        let head = String(decoding: response[..<(headEnd ?? response.endIndex)], as: UTF8.self)
        guard let statusLine = head.split(separator: "\r\n", maxSplits: 1).first,
              let code = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw DemoError(description: "malformed response from \(endpoint)")
        }
        let body = headEnd.map { response[($0 + separator.count)...] } ?? []
        return Response(status: code, body: String(decoding: body, as: UTF8.self))
    }
}
