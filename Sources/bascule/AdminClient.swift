import BasculeConfig
import BasculePosix
import BasculeProxy

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
        let fd: Int32
        do {
            fd = try BlockingSocket.connect(to: SocketAddress(endpoint), timeoutSeconds: Double(timeoutSeconds))
        } catch {
            throw DemoError(description: "cannot reach the admin endpoint at \(endpoint): \(error.reason) (is bascule running with this config?)")
        }
        defer { closeDescriptor(fd) }

        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint)\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
        if !token.isEmpty { request += "Authorization: Bearer \(token)\r\n" }
        request += "\r\n" + body
        do {
            try BlockingSocket.writeAll(fd, Array(request.utf8))
        } catch {
            throw DemoError(description: "sending to \(endpoint): \(error.reason)")
        }
        var response: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
        defer { chunk.deallocate() }
        while response.count < 16 * 1024 * 1024 {
            let n: Int
            do {
                n = try BlockingSocket.read(fd, into: chunk)
            } catch {
                throw DemoError(description: "reading from \(endpoint): \(error.reason)")
            }
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
