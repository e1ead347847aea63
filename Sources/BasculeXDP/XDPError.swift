/// Why the kernel data plane could not start, with libbpf's own messages (the verifier's log
/// when the kernel refused the program) so the operator sees the kernel's reason.
public struct XDPError: Error, CustomStringConvertible, Sendable {
    public let step: String
    public let errno: Int32
    /// libbpf's messages during the failed step; empty when it had none.
    public let log: String

    public init(step: String, errno: Int32, log: String = "") {
        self.step = step
        self.errno = errno
        self.log = log
    }

    public var description: String {
        let reason = errno == 0 ? "" : " (\(String(cString: strerror(errno))), errno \(errno))"
        return "XDP: \(step) failed\(reason)" + (log.isEmpty ? "" : "\n--- libbpf / verifier log ---\n\(log)")
    }
}

#if canImport(Glibc)
import Glibc
#endif
