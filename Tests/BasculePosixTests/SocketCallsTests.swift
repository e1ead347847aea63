import BasculePosix
import Glibc
import Synchronization
import Testing

@Suite struct SocketCallsTests {
    @Test func resetOnCloseCutsTheStreamForThePeer() throws {
        let (listener, bound) = try loopbackListener()
        defer { closeDescriptor(listener) }
        let client = try BlockingSocket.connect(to: bound, timeoutSeconds: 5)
        defer { closeDescriptor(client) }
        let server = Int32(try syscallValue("accept") { Int(accept(listener, nil, nil)) })
        SocketCalls.resetOnClose(server)
        closeDescriptor(server)

        do {
            let count = try readSome(client)
            Issue.record("read \(count) bytes instead of a reset")
        } catch {
            #expect(error.errno == ECONNRESET)
        }
    }

    @Test func aWriteToAVanishedPeerCostsAnErrorNotTheProcess() throws {
        BrokenPipe.ignore()
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        closeDescriptor(pair[1])
        defer { closeDescriptor(pair[0]) }
        // write(2), unlike send with MSG_NOSIGNAL, raises SIGPIPE unless it is ignored.
        var byte: UInt8 = 1
        #expect(throws: SystemError(errno: EPIPE, call: "write")) {
            _ = try syscallValue("write") { Glibc.write(pair[0], &byte, 1) }
        }
    }

    @Test func aJoinableThreadHasRunWhenJoinReturns() {
        let ran = Atomic<Int>(0)
        let thread = WorkerThread(name: "posix-test") { ran.store(1, ordering: .releasing) }
        thread.join()
        #expect(ran.load(ordering: .acquiring) == 1)
    }

    @Test func aDetachedThreadRunsItsBody() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { closeDescriptor(pair[0]) }
        let writer = pair[1]
        try WorkerThread.detach(name: "posix-detached") {
            try? BlockingSocket.writeAll(writer, [42])
            closeDescriptor(writer)
        }
        try BlockingSocket.setTimeouts(pair[0], seconds: 5)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try BlockingSocket.read(pair[0], into: buffer) == 1)
        #expect(buffer[0] == 42)
    }
}
