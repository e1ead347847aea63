import BasculeEventLoop
import BasculeProxy
import CLinux
import Glibc

/// The admin port's listening socket and the accept call, kept apart from the proxy's
/// listeners: one socket, no SO_REUSEPORT (a second bascule on the same admin port should
/// fail to start rather than share it).
enum AdminListener {
    static func open(on address: SocketAddress, backlog: Int32 = 128) throws(SystemError) -> Int32 {
        try SocketCalls.listener(on: address, backlog: backlog, shared: false)
    }

    /// A non-blocking, close-on-exec client socket and its address, or nil when none is waiting.
    static func accept(_ fd: Int32) throws(SystemError) -> (fd: Int32, peer: SocketAddress)? {
        var peer = SocketAddress()
        return try SocketCalls.accept(fd, peer: &peer).map { ($0, peer) }
    }

    static func localAddress(_ fd: Int32) -> SocketAddress {
        SocketCalls.localAddress(fd)
    }
}
