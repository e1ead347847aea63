import BasculePosix
import Glibc
import Testing

/// The errno policy: EINTR retried, EAGAIN a value, anything else thrown with the call's name,
/// bookkeeping errors fatal.
@Suite struct SyscallTests {
    @Test func eintrIsRetriedUntilTheCallCompletes() throws {
        var attempts = 0
        let result = try syscallValue("fake") {
            attempts += 1
            if attempts < 3 {
                errno = EINTR
                return -1
            }
            return 7
        }
        #expect(result == 7)
        #expect(attempts == 3)
    }

    @Test func anEmptyNonBlockingSocketWouldBlockRatherThanFail() throws {
        let (listener, bound) = try loopbackListener()
        defer { closeDescriptor(listener) }
        var peer = SocketAddress()
        #expect(try SocketCalls.accept(listener, peer: &peer) == nil)

        let client = try SocketCalls.open(family: AF_INET)
        defer { closeDescriptor(client) }
        _ = try SocketCalls.connect(client, to: bound)
        var buffer = [UInt8](repeating: 0, count: 16)
        let read = try buffer.withUnsafeMutableBytes { try SocketCalls.receive(client, into: $0) }
        guard case .wouldBlock = read else {
            Issue.record("recv on an idle socket returned \(read)")
            return
        }
    }

    @Test func otherErrorsAreThrownWithTheCallAndErrno() throws {
        let (listener, bound) = try loopbackListener()
        defer { closeDescriptor(listener) }
        // The port is held without SO_REUSEPORT: a second listener cannot bind it.
        #expect(throws: SystemError(errno: EADDRINUSE, call: "bind")) {
            _ = try SocketCalls.listener(on: bound, backlog: 1, shared: false)
        }
        let error = SystemError(errno: EADDRINUSE, call: "bind")
        #expect(error.description == "bind: Address already in use (errno 98)")
    }

    @Test func aRefusedConnectIsReportedAsThePendingError() throws {
        let (listener, bound) = try loopbackListener()
        closeDescriptor(listener)  // nobody listens on the port any more
        let fd = try SocketCalls.open(family: AF_INET)
        defer { closeDescriptor(fd) }
        if case .connected = try SocketCalls.connect(fd, to: bound) {
            Issue.record("connected to a closed port")
            return
        }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        #expect(poll(&poller, 1, 5000) == 1)
        #expect(SocketCalls.pendingError(fd) == ECONNREFUSED)
    }

    @Test func aBlockingReadPastItsTimeoutIsATimeout() throws {
        let (listener, bound) = try loopbackListener()
        defer { closeDescriptor(listener) }
        let client = try BlockingSocket.connect(to: bound, timeoutSeconds: 0.05)
        defer { closeDescriptor(client) }
        do {
            _ = try readSome(client)
            Issue.record("read returned without data")
        } catch {
            #expect(error.isTimeout)
            #expect(error.call == "read")
        }
    }

    @Test func aClosedDescriptorStopsTheProgram() async {
        await #expect(processExitsWith: .failure) {
            _ = try? syscallValue("read") {
                var byte: UInt8 = 0
                return Glibc.read(-1, &byte, 1)
            }
        }
    }
}

func loopbackListener() throws -> (fd: Int32, address: SocketAddress) {
    let fd = try SocketCalls.listener(on: SocketAddress(ipv4: 0x7F00_0001, port: 0), backlog: 4, shared: false)
    return (fd, SocketCalls.localAddress(fd))
}

/// One blocking read into a scratch buffer, keeping the typed error.
func readSome(_ fd: Int32) throws(SystemError) -> Int {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
    defer { buffer.deallocate() }
    return try BlockingSocket.read(fd, into: buffer)
}
