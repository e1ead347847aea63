import CLinux
import Glibc

/// The socket calls every layer makes (the proxy's listeners and connects, health probes, the
/// admin port, the test backend, the CLI's admin client), each through `syscall` so errors
/// carry the call's name and follow the one errno policy.
public enum SocketCalls {
    /// How a non-blocking connect began.
    public enum ConnectStart: Sendable, Equatable {
        case connected
        /// EINPROGRESS: epoll reports writable when it is done; `pendingError` says how.
        case inProgress
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ call: StaticString) throws(SystemError) {
        var value = value
        _ = try syscallValue(call) {
            Int(setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)))
        }
    }

    /// A non-blocking, close-on-exec stream socket.
    public static func open(family: Int32) throws(SystemError) -> Int32 {
        Int32(try syscallValue("socket") { Int(cl_socket_nonblock(family, Int32(SOCK_STREAM.rawValue))) })
    }

    /// A listening socket. For a service (`shared`), one per worker: SO_REUSEPORT lets every
    /// worker bind the same address so the kernel spreads new connections over workers with no
    /// shared accept queue; IP_FREEBIND lets a standby node listen on a virtual address it does
    /// not hold yet; TCP_NODELAY set here is inherited by every accepted socket, saving a call
    /// per client. Unshared (the admin port), a second process on the same port fails to start.
    public static func listener(on address: SocketAddress, backlog: Int32 = 4096, shared: Bool = true) throws(SystemError) -> Int32 {
        let fd = try open(family: address.family)
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            if shared {
                try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)")
                try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)")
                if address.family == AF_INET6 {
                    try setOption(fd, Int32(IPPROTO_IPV6), IPV6_FREEBIND, 1, "setsockopt(IPV6_FREEBIND)")
                } else {
                    try setOption(fd, Int32(IPPROTO_IP), IP_FREEBIND, 1, "setsockopt(IP_FREEBIND)")
                }
            }
            _ = try syscallValue("bind") { address.withSockAddr { Int(bind(fd, $0, $1)) } }
            _ = try syscallValue("listen") { Int(listen(fd, backlog)) }
            return fd
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// Whether this host holds `address` now (a wildcard always counts). A listener set with
    /// FREEBIND binds either way; this only tells the operator which case they are in.
    public static func isHeldLocally(_ address: SocketAddress) -> Bool {
        let fd = socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { closeDescriptor(fd) }
        // UDP: binding its port says nothing about TCP's, so a busy TCP port is no obstacle.
        let result = address.withSockAddr { bind(fd, $0, $1) }
        return result == 0 || errno != EADDRNOTAVAIL
    }

    /// A non-blocking, close-on-exec client socket, or nil when none is waiting. `peer` is
    /// filled in place so the accept loop builds no value per client.
    public static func accept(_ fd: Int32, peer: inout SocketAddress) throws(SystemError) -> Int32? {
        let result = try syscall("accept4") { peer.fill { Int(cl_accept4(fd, $0, $1)) } }
        switch result {
        case .processed(let client): return Int32(client)
        case .wouldBlock: return nil
        }
    }

    /// Starts a connect on a non-blocking socket.
    public static func connect(_ fd: Int32, to address: SocketAddress) throws(SystemError) -> ConnectStart {
        let result = address.withSockAddr { cl_connect(fd, $0, $1) }
        if result == 0 { return .connected }
        let code = errno
        // EINTR on a non-blocking connect also means it carries on in the background, so it
        // is not retried here (a second connect would fail with EALREADY).
        if code == EINPROGRESS || code == EINTR { return .inProgress }
        if code == EBADF || code == EFAULT { preconditionFailure("connect: descriptor bookkeeping is broken") }
        throw SystemError(errno: code, call: "connect")
    }

    /// The bound address of a socket (the real port when the config said port 0).
    public static func localAddress(_ fd: Int32) -> SocketAddress {
        var address = SocketAddress()
        _ = address.fill { getsockname(fd, $0, $1) }
        return address
    }

    /// Keepalive on a service's listening socket. Every accepted socket inherits it (Linux
    /// copies a listener's options into each connection it accepts), so finding a client's
    /// vanished host costs no call per connection.
    public static func setListenerKeepAlive(_ fd: Int32, idleSeconds: Int32, intervalSeconds: Int32, count: Int32) throws(SystemError) {
        try setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "setsockopt(SO_KEEPALIVE)")
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, idleSeconds, "setsockopt(TCP_KEEPIDLE)")
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, intervalSeconds, "setsockopt(TCP_KEEPINTVL)")
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, count, "setsockopt(TCP_KEEPCNT)")
    }

    /// Keepalive and TCP_USER_TIMEOUT on a new backend socket: four calls per backend
    /// connection (nothing inherits them on the connecting side). TCP_KEEPCNT is not set: with a
    /// user timeout, the kernel ends a keepalive-probed connection when the user timeout has
    /// passed, not after a count of probes. Failures are ignored: the connection still works,
    /// it only loses early detection of a dead host.
    public static func setBackendKeepAlive(_ fd: Int32, idleSeconds: Int32, intervalSeconds: Int32, userTimeoutMs: Int32) {
        var value: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        if idleSeconds > 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &value, size)
            value = idleSeconds
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &value, size)
            value = intervalSeconds
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &value, size)
        }
        if userTimeoutMs > 0 {
            value = userTimeoutMs
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &value, size)
        }
    }

    /// The pending error of a socket whose non-blocking connect has finished: 0 when it succeeded.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
        return code
    }

    /// The next close sends RST instead of FIN: the peer learns the stream was cut, where a
    /// FIN would tell it the stream ended. Unsent bytes are dropped, which is the point.
    public static func resetOnClose(_ fd: Int32) {
        var abort = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
    }

    /// MSG_NOSIGNAL: a peer that reset must cost an EPIPE, not a signal.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("send") { cl_send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// `.processed(0)` is the peer's EOF.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("recv") { cl_recv(fd, buffer.baseAddress, buffer.count, 0) }
    }
}
