import Glibc

/// Blocking stream-socket calls, for code that gives each connection a thread or makes one
/// request and waits: the test backend, the CLI's admin client, test clients. A timeout set
/// with `setTimeouts` surfaces as a `SystemError` whose `isTimeout` is true.
///
/// Writes use MSG_NOSIGNAL so a peer that vanished costs an EPIPE error, not the process.
public enum BlockingSocket {
    /// A listening socket bound to `address` (port 0 picks a free port). IPv6 listeners are
    /// V6ONLY so that a v4 and a v6 backend can share a port number.
    public static func listen(on address: SocketAddress, backlog: Int32 = 4096) throws(SystemError) -> Int32 {
        let fd = try open(family: address.family)
        do throws(SystemError) {
            // A restarted backend must rebind its port while old connections sit in TIME_WAIT.
            try SocketCalls.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            if address.family == AF_INET6 {
                try SocketCalls.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)")
            }
            _ = try syscallValue("bind") { address.withSockAddr { Int(bind(fd, $0, $1)) } }
            _ = try syscallValue("listen") { Int(Glibc.listen(fd, backlog)) }
            return fd
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// Connects a blocking socket; `timeoutSeconds` bounds the connect and every later read
    /// and write. `source`, when given, is bound first: tests use it to connect from several
    /// loopback addresses (127.0.0.2, 127.0.0.3…) to exercise per-client rules.
    public static func connect(to address: SocketAddress, timeoutSeconds: Double,
                               source: SocketAddress? = nil) throws(SystemError) -> Int32 {
        let fd = try open(family: address.family)
        do throws(SystemError) {
            try setTimeouts(fd, seconds: timeoutSeconds)
            try SocketCalls.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)")
            if let source {
                _ = try syscallValue("bind") { source.withSockAddr { Int(bind(fd, $0, $1)) } }
            }
            // Not retried on EINTR: the connect continues in the kernel and a retry would fail
            // with EALREADY; our threads block the signals we handle, so EINTR does not occur.
            if address.withSockAddr({ Glibc.connect(fd, $0, $1) }) < 0 {
                throw SystemError(errno: errno, call: "connect(\(address))")
            }
            return fd
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// The port the kernel bound (for port 0 listeners).
    public static func boundPort(_ fd: Int32) throws(SystemError) -> UInt16 {
        var address = SocketAddress()
        _ = try syscallValue("getsockname") { Int(address.fill { getsockname(fd, $0, $1) }) }
        return address.port
    }

    /// Sets SO_RCVTIMEO and SO_SNDTIMEO; an expired timeout makes the call fail with EAGAIN.
    public static func setTimeouts(_ fd: Int32, seconds: Double) throws(SystemError) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        _ = try syscallValue("setsockopt(SO_RCVTIMEO)") {
            Int(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)))
        }
        _ = try syscallValue("setsockopt(SO_SNDTIMEO)") {
            Int(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)))
        }
    }

    /// Reads what is available (at least one byte unless the peer closed: then 0).
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return try syscallValue("read") { Glibc.read(fd, base, buffer.count) }
    }

    /// Writes every byte or throws.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        guard var cursor = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = try syscallValue("send") { send(fd, cursor, remaining, Int32(MSG_NOSIGNAL)) }
            cursor += written
            remaining -= written
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { buffer in
            do throws(SystemError) { try writeAll(fd, buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Half-closes: the peer reads EOF while our read side stays open for its reply.
    public static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    private static func open(family: Int32) throws(SystemError) -> Int32 {
        Int32(try syscallValue("socket") {
            Int(socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0))
        })
    }
}
