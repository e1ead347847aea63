import BasculeEventLoop
import CLinux
import Glibc

/// A backend for the tests, on 127.0.0.1 (or ::1) and a port the kernel picked, served by the same
/// event loop the monitor runs on: no threads, and what it does is decided by `behavior`
/// at the moment a request arrives.
public final class LoopbackHTTPServer: EventHandler {
    public enum Behavior {
        /// Reads the request head, answers with these bytes and closes.
        case respond(String)
        /// Answers the first bytes, whatever they are (a TLS ClientHello has no blank line).
        case respondToAnyBytes(String)
        /// Accepts and reads, never answers (a hung or SIGSTOPped process).
        case hang
    }

    public var behavior: Behavior
    public let port: UInt16
    public private(set) var accepted = 0
    public private(set) var peerClosures = 0
    private let loop: EventLoop
    private var listener: Int32
    private var id = HandlerID.unregistered
    private var connections: [ServerConnection] = []

    public init(loop: EventLoop, behavior: Behavior, ipv6: Bool = false) throws {
        self.loop = loop
        self.behavior = behavior
        listener = try ipv6 ? Self.listenIPv6() : Self.listen(port: 0)
        self.port = Self.boundPort(listener)
        id = loop.register(self)
        try loop.watch(listener, events: [.readable, .edgeTriggered], handler: id)
    }

    public static func ok(_ body: String = "ok") -> String { response(status: "200 OK", body: body) }

    public static func response(status: String, body: String) -> String {
        "HTTP/1.1 \(status)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    }

    public var openConnections: Int { connections.filter { $0.fd >= 0 }.count }

    /// Stops listening and closes every connection: the port now refuses.
    public func close() {
        if listener >= 0 { closeDescriptor(listener); listener = -1 }
        for connection in connections { connection.close() }
        connections.removeAll()
        loop.unregister(id)
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {
        while listener >= 0 {
            let fd = cl_accept4(listener, nil, nil)
            guard fd >= 0 else { return }
            accepted += 1
            let connection = ServerConnection(fd: fd, server: self, loop: loop)
            connection.id = loop.register(connection)
            connections.append(connection)
            try? loop.watch(fd, events: [.readable, .readHangup, .edgeTriggered], handler: connection.id)
        }
    }

    fileprivate func bytesArrived(on connection: ServerConnection, headComplete: Bool) {
        let text: String
        switch behavior {
        case .respond(let response) where headComplete: text = response
        case .respondToAnyBytes(let response): text = response
        default: return
        }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        connection.close()
    }

    fileprivate func peerClosed(_ connection: ServerConnection) {
        peerClosures += 1
        connection.close()
    }

    public static func listen(port: UInt16) throws -> Int32 {
        let fd = cl_socket_nonblock(AF_INET, Int32(SOCK_STREAM.rawValue))
        guard fd >= 0 else { throw SystemError(errno: errno, call: "socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let code = errno
            closeDescriptor(fd)
            throw SystemError(errno: code, call: "bind/listen")
        }
        return fd
    }

    public static func listenIPv6() throws -> Int32 {
        let fd = cl_socket_nonblock(AF_INET6, Int32(SOCK_STREAM.rawValue))
        guard fd >= 0 else { throw SystemError(errno: errno, call: "socket") }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let code = errno
            closeDescriptor(fd)
            throw SystemError(errno: code, call: "bind/listen(::1)")
        }
        return fd
    }

    /// The port of a bound socket; sin_port and sin6_port sit at the same offset.
    public static func boundPort(_ fd: Int32) -> UInt16 {
        var address = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin6_port)
    }

    /// A loopback port with nothing listening on it: connecting there is refused.
    public static func refusingPort() throws -> UInt16 {
        let fd = try listen(port: 0)
        defer { closeDescriptor(fd) }
        return boundPort(fd)
    }
}

private final class ServerConnection: EventHandler {
    var fd: Int32
    var id = HandlerID.unregistered
    private var received: [UInt8] = []
    private unowned let server: LoopbackHTTPServer
    private unowned let loop: EventLoop

    init(fd: Int32, server: LoopbackHTTPServer, loop: EventLoop) {
        self.fd = fd
        self.server = server
        self.loop = loop
    }

    func handleEvent(_ events: EpollEvents, tag: UInt8) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while fd >= 0 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return server.peerClosed(self) }
            guard count > 0 else { return }
            received.append(contentsOf: buffer[..<count])
            server.bytesArrived(on: self, headComplete: received.count >= 4 && received.suffix(4).elementsEqual([13, 10, 13, 10]))
        }
    }

    func close() {
        guard fd >= 0 else { return }
        closeDescriptor(fd)
        fd = -1
        loop.unregister(id)
    }
}
