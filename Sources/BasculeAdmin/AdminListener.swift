import BasculeEventLoop
import BasculeProxy
import CLinux
import Glibc

/// The admin port's listening socket and the accept call, kept apart from the proxy's
/// listeners: one socket, no SO_REUSEPORT (a second bascule on the same admin port should
/// fail to start rather than share it).
enum AdminListener {
    static func open(on address: SocketAddress, backlog: Int32 = 128) throws(SystemError) -> Int32 {
        let fd = Int32(try syscallValue("socket") { Int(cl_socket_nonblock(address.family, Int32(SOCK_STREAM.rawValue))) })
        do {
            var one: Int32 = 1
            _ = try syscallValue("setsockopt(SO_REUSEADDR)") {
                Int(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)))
            }
            var storage = address.storage
            _ = try syscallValue("bind") {
                withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(bind(fd, $0, address.length)) }
                }
            }
            _ = try syscallValue("listen") { Int(listen(fd, backlog)) }
            return fd
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// A non-blocking, close-on-exec client socket and its address, or nil when none is waiting.
    static func accept(_ fd: Int32) throws(SystemError) -> (fd: Int32, peer: SocketAddress)? {
        var peer = SocketAddress()
        peer.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try syscall("accept4") {
            withUnsafeMutablePointer(to: &peer.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(cl_accept4(fd, $0, &peer.length)) }
            }
        }
        switch result {
        case .processed(let client): return (Int32(client), peer)
        case .wouldBlock: return nil
        }
    }

    static func localAddress(_ fd: Int32) -> SocketAddress {
        var address = SocketAddress()
        address.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &address.length) }
        }
        return address
    }
}

extension SocketAddress {
    /// 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address.
    var isLoopback: Bool {
        if let v4 = ipv4 { return v4 >> 24 == 127 }
        if let v6 = ipv6 { return v6.high == 0 && v6.low == 1 }
        return false
    }
}
