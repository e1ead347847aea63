#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: carries the call's name and errno so a message points at the cause.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// SO_RCVTIMEO/SO_SNDTIMEO expiry surfaces as EAGAIN on a blocking socket.
    public var isTimeout: Bool { errno == EAGAIN || errno == EWOULDBLOCK }
}

/// Runs a syscall, retrying EINTR here and nowhere else; any other failure is thrown with its errno.
@inline(__always)
func syscallRetryingEINTR<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SocketError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SocketError(call: call, errno: code)
    }
}
