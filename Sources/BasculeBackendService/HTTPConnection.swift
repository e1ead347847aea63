#if canImport(Glibc)
import BasculePosix
import Glibc
#endif

/// One HTTP/1.1 client connection served on its own thread: read a head, discard any body,
/// answer, repeat while keep-alive holds.
struct HTTPConnection {
    static let streamChunkSize = 256 * 1024

    private var stream: ConnectionStream
    let configuration: BackendConfiguration
    let state: BackendState
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// From a PROXY header (`--accept-proxy`), reported in `X-Client-Address`.
    private var proxiedClient: String?

    init(fd: Int32, configuration: BackendConfiguration, state: BackendState) {
        stream = ConnectionStream(fd: fd)
        self.configuration = configuration
        self.state = state
        buffer = .allocate(byteCount: 2 * HTTPRequestHead.maximumHeadSize, alignment: 16)
    }

    mutating func run() {
        defer {
            buffer.deallocate()
            stream.close()
        }
        do {
            if configuration.acceptProxy {
                guard try readProxyHeader() else { return }
            }
            if let tls = configuration.tls {
                guard stream.startTLS(tls) else { return }
            }
            while try serveOneRequest() {}
        } catch {
            // Peer reset, timed out or went away mid-response: the connection is simply over.
        }
    }

    /// Returns whether the connection stays open for another request.
    private mutating func serveOneRequest() throws(SystemError) -> Bool {
        let head: HTTPRequestHead
        while true {
            switch HTTPRequestHead.parse(UnsafeRawBufferPointer(rebasing: buffer[start..<end])) {
            case .complete(let parsed, let headLength):
                head = parsed
                start += headLength
            case .invalid(let error):
                try rejectAndClose(error)
                return false
            case .incomplete:
                guard try readMore() else { return false }
                continue
            }
            break
        }

        if head.header("Transfer-Encoding") != nil {
            // Without decoding chunks we cannot find the next request; refuse and close.
            try send(.text(501, "Transfer-Encoding bodies are not supported\n"), for: head, keepAlive: false)
            lingeringClose()
            return false
        }
        let bodyLength: UInt64
        do {
            bodyLength = try head.contentLength() ?? 0
        } catch {
            try rejectAndClose(error)
            return false
        }
        if bodyLength > 0, start == end, head.header("Expect")?.lowercased() == "100-continue" {
            // curl and others hold a body back (about a second) until the server invites it.
            try stream.writeAll(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        guard try discardBody(bodyLength) else { return false }

        state.requestsServed.add(1, ordering: .relaxed)
        let routes = BackendRoutes(configuration: configuration, state: state)
        let reply = routes.reply(to: head)
        let delay = state.slowMilliseconds.load(ordering: .relaxed)
        if delay > 0, BackendRoutes.isDelayed(head) { usleep(UInt32(delay) * 1000) }
        try send(reply, for: head, keepAlive: head.keepAlive)
        return head.keepAlive
    }

    /// Reads the PROXY header in front of the first request; false closes the connection.
    private mutating func readProxyHeader() throws(SystemError) -> Bool {
        while true {
            switch ProxyHeaderReport.parse(UnsafeRawBufferPointer(rebasing: buffer[start..<end])) {
            case .complete(let client, let length):
                proxiedClient = client
                start += length
                return true
            case .invalid:
                return false
            case .needMoreData:
                guard end < buffer.count, try readMore() else { return false }
            }
        }
    }

    /// Reads into the free tail of the buffer, compacting first. False when the peer closed.
    private mutating func readMore() throws(SystemError) -> Bool {
        if start > 0 {
            let pending = end - start
            if pending > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending) }
            start = 0
            end = pending
        }
        // The parser reports an oversized head before the buffer can fill up.
        // Before a TLS handshake, only the PROXY header may be taken from the socket: the
        // ClientHello after it belongs to OpenSSL, so those reads go one byte at a time.
        let limit = configuration.tls != nil && !stream.isTLS ? end + 1 : buffer.count
        let count = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end..<limit]))
        end += count
        return count > 0
    }

    private mutating func discardBody(_ length: UInt64) throws(SystemError) -> Bool {
        var remaining = length
        let buffered = UInt64(end - start)
        let fromBuffer = min(buffered, remaining)
        start += Int(fromBuffer)
        remaining -= fromBuffer
        while remaining > 0 {
            start = 0
            end = 0
            let count = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(UInt64(buffer.count), remaining))]))
            if count == 0 { return false }
            remaining -= UInt64(count)
        }
        return true
    }

    private func rejectAndClose(_ error: HTTPParseError) throws(SystemError) {
        let head = HTTPRequestHead(method: "GET", target: "/")
        try send(.text(error.status, "\(error)\n"), for: head, keepAlive: false)
        lingeringClose()
    }

    /// Half-close, then drain what the client still sends for a moment: closing with unread
    /// data makes the kernel send RST, which can destroy the error response before it is read.
    private func lingeringClose() {
        stream.shutdownWrite()
        try? BlockingSocket.setTimeouts(stream.fd, seconds: 1)
        var drained = 0
        while drained < 1 << 20,
              let count = try? stream.read(into: buffer), count > 0 {
            drained += count
        }
    }

    private func send(_ reply: BackendReply, for request: HTTPRequestHead, keepAlive: Bool) throws(SystemError) {
        let headOnly = request.method == "HEAD"
        var head = HTTPResponseHead(status: 200, headers: [("X-Backend", configuration.name)])
        if let proxiedClient { head.headers.append(("X-Client-Address", proxiedClient)) }
        if !keepAlive {
            head.headers.append(("Connection", "close"))
        } else if request.versionMinor == 0 {
            head.headers.append(("Connection", "keep-alive"))
        }
        switch reply {
        case .document(let status, let contentType, let body, let extraHeaders):
            head.status = status
            head.headers += [("Content-Type", contentType), ("Content-Length", "\(body.count)")] + extraHeaders
            // One write for head and body: a small response must not wait for a second segment.
            try stream.writeAll(headOnly ? head.bytes : head.bytes + body)
        case .content(let generator, let size, let range):
            let first: UInt64
            let last: UInt64
            switch range {
            case .unsatisfiable:
                // RFC 9110 §15.5.17: a 416 names the current length so the client can re-plan.
                let reply = BackendReply.text(416, "range not satisfiable\n",
                                              extraHeaders: [("Accept-Ranges", "bytes"), ("Content-Range", "bytes */\(size)")])
                try send(reply, for: request, keepAlive: keepAlive)
                return
            case .full:
                first = 0
                last = size &- 1
                head.headers += [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
                                 ("Content-Length", "\(size)")]
            case .partial(let rangeFirst, let rangeLast):
                head.status = 206
                first = rangeFirst
                last = rangeLast
                head.headers += [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
                                 ("Content-Range", "bytes \(first)-\(last)/\(size)"),
                                 ("Content-Length", "\(last - first + 1)")]
            }
            try stream.writeAll(head.bytes)
            guard !headOnly, size > 0 else { return }
            try streamContent(generator, from: first, through: last)
        }
    }

    private func streamContent(_ generator: ContentGenerator, from first: UInt64, through last: UInt64) throws(SystemError) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: HTTPConnection.streamChunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var offset = first
        while offset <= last {
            let count = Int(min(UInt64(chunk.count), last - offset + 1))
            let slice = UnsafeMutableRawBufferPointer(rebasing: chunk[0..<count])
            generator.fill(offset: offset, into: slice)
            try stream.writeAll(UnsafeRawBufferPointer(slice))
            offset += UInt64(count)
        }
    }
}
