import BasculeBackendService
import BasculePosix
import BasculeTestSupport
import Synchronization
import Testing

@Suite("bascule-backend echo mode", .serialized, .timeLimit(.minutes(2)))
final class BackendEchoModeTests {
    let backend: ManagedProcess
    let port: UInt16

    init() throws {
        (backend, port) = try BackendProcess.start(name: "echo-1", mode: .echo)
    }

    deinit { backend.terminate() }

    @Test func echoesThirtyTwoMebibytesByteForByte() throws {
        let size = 32 << 20
        let socket = try TCPClient(port: port, timeout: .seconds(30))
        defer { socket.close() }
        let generator = ContentGenerator(name: "echo")
        let sendFailure = Mutex<String?>(nil)
        let sent = Atomic<Bool>(false)
        // The writer runs on its own thread: echoing 32 MiB back while we are not reading would
        // fill both socket buffers and stall.
        try WorkerThread.detach(name: "test") {
            let chunk = 256 * 1024
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }
            do {
                var offset = 0
                while offset < size {
                    generator.fill(offset: UInt64(offset), into: buffer)
                    try socket.sendAll(UnsafeRawBufferPointer(buffer))
                    offset += chunk
                }
                socket.shutdownWrite()
            } catch {
                sendFailure.withLock { $0 = "\(error)" }
            }
            sent.store(true, ordering: .releasing)
        }
        let received = SHA256Hasher()
        var total = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try socket.read(into: buffer)
            if count == 0 { break }
            received.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += count
        }
        try waitUntil("the sender thread to finish", timeout: .seconds(10)) { sent.load(ordering: .acquiring) }
        #expect(sendFailure.withLock { $0 } == nil)
        #expect(total == size)
        #expect(received.finalize() == generator.sha256(size: UInt64(size)))
    }

    @Test func finishesEchoingThenClosesAfterAHalfClose() throws {
        let socket = try TCPClient(port: port)
        defer { socket.close() }
        try socket.sendAll("hello, ")
        try socket.sendAll("echo")
        socket.shutdownWrite()
        // EOF after the echo shows the backend propagated the half-close instead of hanging.
        #expect(String(decoding: try socket.readToEOF(), as: UTF8.self) == "hello, echo")
    }

    @Test func keepsEchoingUntilTheClientHalfCloses() throws {
        let socket = try TCPClient(port: port)
        defer { socket.close() }
        for round in 0..<5 {
            let message = Array("round \(round)\n".utf8)
            try socket.sendAll(message)
            var echoed: [UInt8] = []
            while echoed.count < message.count { echoed += try socket.read() }
            #expect(echoed == message)
        }
    }
}
