import CLinux
import Glibc

/// The outcome of a non-blocking call: done with a value, or the kernel would have blocked.
/// EAGAIN is a normal answer on this path, so it is a value rather than an error.
@frozen
public enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// The one place system calls are made from Swift in this project. EINTR is retried here and
/// nowhere else; EAGAIN/EWOULDBLOCK come back as `.wouldBlock`; every other errno is thrown
/// with the call's name. EBADF and EFAULT mean our own bookkeeping is wrong (a closed or
/// foreign descriptor, a bad pointer), so they stop the program instead of being handled.
@inlinable
@inline(__always)
public func syscall(_ call: StaticString, _ body: () -> Int) throws(SystemError) -> IOResult<Int> {
    while true {
        let result = body()
        if result >= 0 { return .processed(result) }
        let code = errno
        switch code {
        case EINTR:
            continue
        case EAGAIN, EWOULDBLOCK:
            return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("\(call) failed with \(String(cString: strerror(code))): descriptor bookkeeping is broken")
        default:
            throw SystemError(errno: code, call: "\(call)")
        }
    }
}

/// For calls that never return EAGAIN (socket, bind, listen, setsockopt...): the value, or a
/// thrown `SystemError`.
@inlinable
@inline(__always)
public func syscallValue(_ call: StaticString, _ body: () -> Int) throws(SystemError) -> Int {
    switch try syscall(call, body) {
    case .processed(let value): return value
    case .wouldBlock: throw SystemError(errno: EAGAIN, call: "\(call)")
    }
}

/// Closes a descriptor we own. close() must not be retried on EINTR on Linux: the descriptor
/// is already released, and a retry could close one another thread just opened.
@inlinable
public func closeDescriptor(_ fd: Int32) {
    _ = cl_close(fd)
}
