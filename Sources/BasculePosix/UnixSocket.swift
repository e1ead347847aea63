import CLinux
import Glibc

/// The Unix sockets of a binary upgrade: the running process listens on a path, its successor
/// connects there to take the listening sockets over (`DescriptorPassing`). SOCK_SEQPACKET
/// keeps message boundaries, so a message and the descriptors sent with it arrive together
/// and nothing above needs framing.
public enum UnixSocket {
    /// sun_path's size, terminating NUL included.
    public static let maximumPathLength = 107

    /// A non-blocking listening socket at `path`, readable and writable by this user only.
    /// Bound under a temporary name and renamed over `path`: whoever connects to `path` reaches
    /// either the previous process's socket or this one, never nothing — a successor takes the
    /// path over while the process it replaces is still draining.
    public static func listen(path: String, backlog: Int32 = 8) throws(SystemError) -> Int32 {
        let temporary = "\(path).\(getpid()).new"
        guard temporary.utf8.count <= maximumPathLength else { throw SystemError(errno: ENAMETOOLONG, call: "bind(\(path))") }
        let fd = try open(nonBlocking: true)
        do throws(SystemError) {
            unlink(temporary)
            _ = try syscallValue("bind") { withAddress(temporary) { Int(bind(fd, $0, $1)) } }
            _ = try syscallValue("chmod") { Int(chmod(temporary, 0o600)) }
            _ = try syscallValue("listen") { Int(Glibc.listen(fd, backlog)) }
            _ = try syscallValue("rename") { Int(rename(temporary, path)) }
            return fd
        } catch {
            unlink(temporary)
            closeDescriptor(fd)
            throw error
        }
    }

    /// A blocking connection to the socket at `path`; `timeoutSeconds` bounds every later
    /// send and receive.
    public static func connect(path: String, timeoutSeconds: Double) throws(SystemError) -> Int32 {
        guard path.utf8.count <= maximumPathLength else { throw SystemError(errno: ENAMETOOLONG, call: "connect(\(path))") }
        let fd = try open(nonBlocking: false)
        do throws(SystemError) {
            try BlockingSocket.setTimeouts(fd, seconds: timeoutSeconds)
            _ = try syscallValue("connect") { withAddress(path) { Int(Glibc.connect(fd, $0, $1)) } }
            return fd
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// A non-blocking, close-on-exec connection, or nil when none is waiting.
    public static func accept(_ fd: Int32) throws(SystemError) -> Int32? {
        let result = try syscall("accept4") { Int(cl_accept4(fd, nil, nil)) }
        switch result {
        case .processed(let client): return Int32(client)
        case .wouldBlock: return nil
        }
    }

    /// The process at the other end, as the kernel recorded it at connect (SO_PEERCRED).
    public static func peer(_ fd: Int32) -> (pid: pid_t, uid: uid_t)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: Glibc exports it only to _GNU_SOURCE.
        var credentials: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return (credentials.0, credentials.1)
    }

    /// One message without descriptors; false when it could not be sent whole.
    @discardableResult
    public static func send(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// One message (at most 64 KiB) from a non-blocking socket; an empty one is the peer's EOF
    /// (nothing here sends empty messages).
    public static func receive(_ fd: Int32) throws(SystemError) -> IOResult<[UInt8]> {
        var bytes = [UInt8](repeating: 0, count: 64 * 1024)
        let result = try syscall("recv") { bytes.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) } }
        switch result {
        case .processed(let count): return .processed(Array(bytes[..<count]))
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Whether `path` is still the socket `listen` made (same inode): a process must not
    /// remove the path its successor has since taken over.
    public static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// One datagram to the socket at `path` (`@name`: the abstract namespace), as systemd's
    /// NOTIFY_SOCKET wants it. Best effort: false when it could not be sent.
    @discardableResult
    public static func sendDatagram(to path: String, _ text: String) -> Bool {
        guard path.utf8.count <= maximumPathLength else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { closeDescriptor(fd) }
        let bytes = Array(text.utf8)
        let abstract = path.hasPrefix("@")
        let sent = withAddress(path, abstract: abstract) { address, length in
            bytes.withUnsafeBytes { Int(sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length)) }
        }
        return sent == bytes.count
    }

    private static func open(nonBlocking: Bool) throws(SystemError) -> Int32 {
        var type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return Int32(try syscallValue("socket(AF_UNIX)") { Int(socket(AF_UNIX, type, 0)) })
    }

    private static func withAddress(_ path: String, abstract: Bool = false,
                                    _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int) -> Int {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8.prefix(maximumPathLength))
        // An abstract name starts with a NUL byte and has no terminating one.
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
