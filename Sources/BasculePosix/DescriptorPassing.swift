import CLinux
import Glibc

/// Descriptors handed to another process over a Unix stream socket (SCM_RIGHTS): the floor of
/// a binary upgrade that keeps the listening sockets, as HAProxy's `-x` and Envoy's hot restart
/// do. The receiver gets new descriptors for the same open sockets, so a listener passed this
/// way keeps its port, its SO_REUSEPORT group and the connections already queued on it.
/// Both calls are blocking: a handover is a short exchange on the control thread, bounded by
/// the socket's timeouts.
public enum DescriptorPassing {
    /// The kernel's limit per message (SCM_MAX_FD).
    public static let maximumPerMessage = 253

    /// Sends `bytes` with `descriptors` attached, as one message. The descriptors stay open
    /// here; the peer holds its own copies once it has received them.
    public static func send(_ socket: Int32, bytes: [UInt8], descriptors: [Int32]) throws(SystemError) {
        guard !bytes.isEmpty, descriptors.count <= maximumPerMessage else { throw SystemError(errno: EINVAL, call: "sendmsg") }
        let sent = try syscallValue("sendmsg") {
            bytes.withUnsafeBytes { raw in
                descriptors.withUnsafeBufferPointer { fds in
                    Int(cl_send_fds(socket, raw.baseAddress, raw.count, fds.baseAddress, Int32(fds.count)))
                }
            }
        }
        // A stream socket may take part of a message; the descriptors went with its first byte.
        if sent < bytes.count {
            try BlockingSocket.writeAll(socket, Array(bytes[sent...]))
        }
    }

    /// One message: up to `maxBytes` bytes and up to `maxDescriptors` descriptors, received
    /// close-on-exec. More descriptors than that fail the call with EMSGSIZE, with none left open.
    public static func receive(_ socket: Int32, maxBytes: Int = 64 * 1024,
                               maxDescriptors: Int = maximumPerMessage) throws(SystemError) -> (bytes: [UInt8], descriptors: [Int32]) {
        var bytes = [UInt8](repeating: 0, count: maxBytes)
        var fds = [Int32](repeating: -1, count: max(1, min(maxDescriptors, maximumPerMessage)))
        var received: Int32 = 0
        let count = try syscallValue("recvmsg") {
            bytes.withUnsafeMutableBytes { raw in
                fds.withUnsafeMutableBufferPointer { buffer in
                    Int(cl_recv_fds(socket, raw.baseAddress, raw.count, buffer.baseAddress,
                                    Int32(min(maxDescriptors, maximumPerMessage)), &received))
                }
            }
        }
        return (Array(bytes[..<count]), Array(fds[..<Int(received)]))
    }
}
