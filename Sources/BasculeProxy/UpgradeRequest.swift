import BasculePosix
import Glibc

/// The `bascule upgrade` side of the upgrade socket: ask the running process to start its
/// successor, then wait for the end of the handover.
public enum UpgradeRequest {
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    public static func send(_ fd: Int32, executable: String) -> Bool {
        UnixSocket.send(fd, HandoverMessage.spawn(executable: executable).encoded)
    }

    /// The successor's pid once it serves, or why there is none. Blocking, bounded by the
    /// socket's timeout.
    public static func outcome(_ fd: Int32) -> Result<Int32, Refusal> {
        var bytes = [UInt8](repeating: 0, count: 64 * 1024)
        let count = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 {
            return .failure(Refusal(description: errno == EAGAIN ? "no answer in time" : String(cString: strerror(errno))))
        }
        switch HandoverMessage(Array(bytes[..<count])) {
        case .handedOver(let pid)?: return .success(pid)
        case .refused(let reason)?: return .failure(Refusal(description: reason))
        default: return .failure(Refusal(description: count == 0 ? "the running process closed the connection" : "unexpected answer"))
        }
    }
}
