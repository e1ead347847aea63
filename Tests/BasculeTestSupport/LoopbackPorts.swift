import BasculePosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Every port handed out in this test process. Suites run in parallel in one process, and a
/// port freed here can come back from the kernel's next bind to port 0; two balancers given the
/// same port would both bind it (SO_REUSEPORT, same user) and share its connections, and the
/// one that shuts down first resets the connections queued on its socket.
private let handedOut = Mutex<Set<UInt16>>([])

/// A port that was free on 127.0.0.1 a moment ago and has not been handed to another test of
/// this run, for configs that need a port before the process using it starts. Another process
/// may still take it in between; prefer `--listen …:0` and reading the real port back wherever
/// the program supports it.
public func freeLoopbackPort() throws -> UInt16 {
    for _ in 0..<100 {
        let fd = try BlockingSocket.listen(on: SocketAddress(ipv4: 0x7F00_0001, port: 0), backlog: 1)
        defer { close(fd) }
        let port = try BlockingSocket.boundPort(fd)
        if handedOut.withLock({ $0.insert(port).inserted }) { return port }
    }
    throw SystemError(errno: EADDRINUSE, call: "freeLoopbackPort (100 ports in a row already handed out)")
}
