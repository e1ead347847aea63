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
        // A file no other test opens: tests run in parallel in this process, so a count of all
        // open descriptors would see theirs come and go.
        var template = Array("/tmp/bascule-fdpass-XXXXXX".utf8CString)
        let marker = mkstemp(&template)
        #expect(marker >= 0)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { closeDescriptor(marker); unlink(path) }
        let sent = (0..<3).map { _ in open(path, O_RDONLY | O_CLOEXEC) }
        defer { sent.forEach(closeDescriptor) }
        try DescriptorPassing.send(old, bytes: [1], descriptors: sent)
        let before = descriptorsOpen(on: path)
        #expect(before == 4)
        #expect(throws: SystemError(errno: EMSGSIZE, call: "recvmsg")) {
            _ = try DescriptorPassing.receive(new, maxDescriptors: 1)
        }
        #expect(descriptorsOpen(on: path) == before)
    }

    /// How many of this process's descriptors refer to `path` (read through /proc/self/fd).
    private func descriptorsOpen(on path: String) -> Int {
        var count = 0
        var target = [CChar](repeating: 0, count: 4096)
        for fd in 0..<4096 where fcntl(Int32(fd), F_GETFD) >= 0 {
            let length = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
            guard length > 0 else { continue }
            if String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) == path { count += 1 }
        }
        return count
    }
}
