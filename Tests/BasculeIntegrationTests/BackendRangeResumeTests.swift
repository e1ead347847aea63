import BasculeBackendService
import BasculeTestSupport
import Testing

@Suite("Resuming a download on another backend", .serialized, .timeLimit(.minutes(2)))
struct BackendRangeResumeTests {
    @Test func resumingWithRangeOnASecondBackendReassemblesTheSameContent() throws {
        let (first, firstPort) = try BackendProcess.start(name: "resume-a")
        defer { first.terminate() }
        let (second, secondPort) = try BackendProcess.start(name: "resume-b")
        defer { second.terminate() }

        let size: UInt64 = 48 << 20
        let path = "/content/pkg-resume?size=\(size)"
        let hasher = SHA256Hasher()
        let client = TestHTTPClient()

        let head = try client.download(port: firstPort, path: path, stopAfter: size / 2) { hasher.update($0) }
        #expect(head.status == 200)
        #expect(head.header("X-Backend") == "resume-a")
        #expect(!head.complete)
        #expect(head.bytesReceived == size / 2)

        let tail = try client.download(port: secondPort, path: path,
                                       headers: [("Range", "bytes=\(head.bytesReceived)-")]) { hasher.update($0) }
        #expect(tail.status == 206)
        #expect(tail.header("X-Backend") == "resume-b")
        #expect(tail.header("Content-Range") == "bytes \(size / 2)-\(size - 1)/\(size)")
        #expect(tail.complete)

        #expect(hasher.finalize() == ContentGenerator(name: "pkg-resume").sha256(size: size))
    }

    @Test func streamsHundredsOfMebibytesQuickly() throws {
        let (backend, port) = try BackendProcess.start(name: "stream-1")
        defer { backend.terminate() }
        let size: UInt64 = 256 << 20
        let started = ContinuousClock.now
        var received: UInt64 = 0
        let download = try TestHTTPClient(timeout: .seconds(30))
            .download(port: port, path: "/content/big?size=256M") { received += UInt64($0.count) }
        #expect(download.complete)
        #expect(received == size)
        // Generous bound for debug builds on a loaded 2-core machine; typically well under 5 s.
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}
