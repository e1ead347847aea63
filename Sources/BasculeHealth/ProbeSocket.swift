import BasculeConfig
import BasculeEventLoop
import CLinux
import Glibc

/// A backend's socket address, built once from its validated `Endpoint`.
struct ProbeAddress: Sendable {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var family: Int32 { Int32(storage.ss_family) }

    init(_ endpoint: Endpoint) throws(SystemError) {
        if endpoint.isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET6, endpoint.host, &address.sin6_addr) == 1 else {
                throw SystemError(errno: EINVAL, call: "inet_pton(\(endpoint.host))")
            }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: address) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET, endpoint.host, &address.sin_addr) == 1 else {
                throw SystemError(errno: EINVAL, call: "inet_pton(\(endpoint.host))")
            }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: address) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
    }
}

/// The few socket calls a probe makes, all non-blocking and through `syscall`.
enum ProbeSocket {
    enum ConnectStart {
        case connected
        case inProgress
    }

    static func open(family: Int32) throws(SystemError) -> Int32 {
        Int32(try syscallValue("socket") { Int(cl_socket_nonblock(family, Int32(SOCK_STREAM.rawValue))) })
    }

    static func connect(_ fd: Int32, to address: ProbeAddress) throws(SystemError) -> ConnectStart {
        var storage = address.storage
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if result == 0 { return .connected }
        let code = errno
        // EINTR on a non-blocking connect also means it carries on in the background.
        if code == EINPROGRESS || code == EINTR { return .inProgress }
        if code == EBADF || code == EFAULT { preconditionFailure("connect: descriptor bookkeeping is broken") }
        throw SystemError(errno: code, call: "connect")
    }

    /// The outcome of a non-blocking connect once epoll reported on it: 0 when it succeeded.
    static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
        return code
    }

    /// MSG_NOSIGNAL: a backend that resets between connect and write must not raise SIGPIPE.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// `.processed(0)` is the peer's EOF.
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("recv") { Glibc.recv(fd, buffer.baseAddress, buffer.count, 0) }
    }

    /// How an operator reads a failed connect: "connect refused" rather than an errno name.
    static func connectFailureReason(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED: return "connect refused"
        case ETIMEDOUT: return "connect timeout"
        default: return "connect failed: \(SystemError(errno: code, call: "connect").reason.lowercased())"
        }
    }
}
