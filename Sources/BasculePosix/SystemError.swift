import Glibc

/// A failed system call: the errno and the name of the call, so a log line says
/// `connect: Connection refused (errno 111)` rather than a bare number.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let errno: Int32
    public let call: String

    public init(errno: Int32, call: String) {
        self.errno = errno
        self.call = call
    }

    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(call): \(reason) (errno \(errno))" }
}

extension SystemError {
    /// SO_RCVTIMEO/SO_SNDTIMEO expiry on a blocking socket surfaces as EAGAIN.
    public var isTimeout: Bool { errno == EAGAIN || errno == EWOULDBLOCK }
}
