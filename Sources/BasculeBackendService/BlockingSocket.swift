#if canImport(Glibc)
import Glibc
#endif

/// Blocking stream-socket calls used by the backend's thread-per-connection model.
///
/// Writes use MSG_NOSIGNAL so a peer that vanished costs an EPIPE error, not the process.
public enum BlockingSocket {
    /// Creates a listening socket bound to `address` (port 0 picks a free port).
    public static func listen(on address: SocketAddress, backlog: Int32 = 4096) throws(SocketError) -> Int32 {
        let fd = try syscallRetryingEINTR("socket") {
            socket(address.addressFamily, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SocketError) {
            // A restarted backend must rebind its port while old connections sit in TIME_WAIT.
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, name: "setsockopt(SO_REUSEADDR)")
            if address.family == .ipv6 {
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, name: "setsockopt(IPV6_V6ONLY)")
            }
            if address.withSockAddr({ bind(fd, $0, $1) }) < 0 {
                throw SocketError(call: "bind(\(address))", errno: errno)
            }
            _ = try syscallRetryingEINTR("listen") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Connects a blocking socket; `timeoutSeconds` bounds every later read and write too.
    /// `source`, when given, is bound first: tests use it to connect from several loopback
    /// addresses (127.0.0.2, 127.0.0.3…) to exercise per-client rules.
    public static func connect(to address: SocketAddress, timeoutSeconds: Double,
                               source: SocketAddress? = nil) throws(SocketError) -> Int32 {
        let fd = try syscallRetryingEINTR("socket") {
            socket(address.addressFamily, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SocketError) {
            try setTimeouts(fd, seconds: timeoutSeconds)
            try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, name: "setsockopt(TCP_NODELAY)")
            if let source, source.withSockAddr({ Glibc.bind(fd, $0, $1) }) < 0 {
                throw SocketError(call: "bind(\(source))", errno: errno)
            }
            // Not retried on EINTR: the connect continues in the kernel and a retry would fail
            // with EALREADY; our threads block the signals we handle, so EINTR does not occur.
            if address.withSockAddr({ Glibc.connect(fd, $0, $1) }) < 0 {
                throw SocketError(call: "connect(\(address))", errno: errno)
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    public static func boundPort(_ fd: Int32) throws(SocketError) -> UInt16 {
        try SocketAddress.boundPort(of: fd)
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32, name: String) throws(SocketError) {
        var value = value
        _ = try syscallRetryingEINTR(name) {
            setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Sets SO_RCVTIMEO and SO_SNDTIMEO; an expired timeout makes the call fail with EAGAIN.
    public static func setTimeouts(_ fd: Int32, seconds: Double) throws(SocketError) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        for (option, name) in [(SO_RCVTIMEO, "SO_RCVTIMEO"), (SO_SNDTIMEO, "SO_SNDTIMEO")] {
            _ = try syscallRetryingEINTR("setsockopt(\(name))") {
                setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
            }
        }
    }

    /// Reads what is available (at least one byte unless the peer closed: then 0).
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return try syscallRetryingEINTR("read") { Glibc.read(fd, base, buffer.count) }
    }

    /// Writes every byte or throws.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SocketError) {
        guard var cursor = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = try syscallRetryingEINTR("send") { send(fd, cursor, remaining, Int32(MSG_NOSIGNAL)) }
            cursor += written
            remaining -= written
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SocketError) {
        var failure: SocketError?
        bytes.withUnsafeBytes { buffer in
            do throws(SocketError) { try writeAll(fd, buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Half-closes: the peer reads EOF while our read side stays open for its reply.
    public static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}
