import BasculePosix
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM/SIGINT handling for a process made of blocking threads.
///
/// The signals are blocked before any thread starts (threads inherit the mask), so none of the
/// connection threads is interrupted; the main thread then waits for one on a signalfd.
public enum TerminationSignals {
    static let handled: [Int32] = [SIGTERM, SIGINT]

    /// Call first thing in `main`, before starting threads. Also ignores SIGPIPE: a client that
    /// disconnects mid-write must cost an EPIPE, not the process.
    public static func block() {
        BrokenPipe.ignore()
        _ = handled.withUnsafeBufferPointer { cl_block_signals($0.baseAddress, Int32($0.count)) }
    }

    /// Blocks until SIGTERM or SIGINT arrives; returns its number.
    public static func wait() -> Int32 {
        let fd = handled.withUnsafeBufferPointer { cl_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { fatalError("signalfd failed: errno \(errno)") }
        defer { close(fd) }
        // The signalfd is non-blocking; poll() sleeps until a signal is pending.
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            _ = poll(&descriptor, 1, -1)
            let signo = cl_signalfd_read_signo(fd)
            if signo > 0 { return signo }
        }
    }
}
