import BasculePosix
import Glibc
import Testing

/// SCM_RIGHTS between two ends of a Unix socket pair, as between an old and a new process.
@Suite struct DescriptorPassingTests {
    private func unixPair() throws -> (Int32, Int32) {
        var pair: [Int32] = [0, 0]
        _ = try syscallValue("socketpair") { Int(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)) }
        return (pair[0], pair[1])
    }

    @Test func aPassedListenerKeepsItsPortAndTheConnectionsQueuedOnIt() throws {
        let (old, new) = try unixPair()
        defer { closeDescriptor(old); closeDescriptor(new) }
        let (listener, address) = try loopbackListener()
        // A client queued before the handover, and one after the sender closed its copy.
        let early = try BlockingSocket.connect(to: address, timeoutSeconds: 5)
        defer { closeDescriptor(early) }

        try DescriptorPassing.send(old, bytes: Array("publishing 0\n".utf8), descriptors: [listener])
        let (bytes, fds) = try DescriptorPassing.receive(new, maxDescriptors: 4)
        closeDescriptor(listener)
        #expect(String(decoding: bytes, as: UTF8.self) == "publishing 0\n")
        #expect(fds.count == 1)
        let passed = try #require(fds.first)
        defer { closeDescriptor(passed) }
        #expect(fcntl(passed, F_GETFD) & FD_CLOEXEC != 0)
        #expect(SocketCalls.localAddress(passed) == address)

        let late = try BlockingSocket.connect(to: address, timeoutSeconds: 5)
        defer { closeDescriptor(late) }
        for _ in 0..<2 {
            let accepted = Int32(try syscallValue("accept") { Int(accept(passed, nil, nil)) })
            closeDescriptor(accepted)
        }
    }

    @Test func moreDescriptorsThanTheReceiverTakesFailWithNoneLeftOpen() throws {
        let (old, new) = try unixPair()
        defer { closeDescriptor(old); closeDescriptor(new) }
        let sent = (0..<3).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
        defer { sent.forEach(closeDescriptor) }
        try DescriptorPassing.send(old, bytes: [1], descriptors: sent)
        let before = openDescriptorCount()
        #expect(throws: SystemError(errno: EMSGSIZE, call: "recvmsg")) {
            _ = try DescriptorPassing.receive(new, maxDescriptors: 1)
        }
        #expect(openDescriptorCount() == before)
    }

    private func openDescriptorCount() -> Int {
        (0..<4096).filter { fcntl(Int32($0), F_GETFD) >= 0 }.count
    }
}
