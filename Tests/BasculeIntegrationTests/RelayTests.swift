import BasculeBackendService
import BasculePosix
import BasculeTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The relay through real processes: bytes arrive intact both ways, half-close is honoured,
/// many connections at once, a refusing backend is skipped, descriptor exhaustion is survived.
@Suite("Relay", .serialized, .timeLimit(.minutes(3)))
struct RelayTests {
    private func service(_ name: String, backends: [(String, UInt16)], strategy: String = "round-robin",
                         extra: [String: Any] = [:]) -> [String: Any] {
        var service: [String: Any] = [
            "name": name, "strategy": strategy, "healthCheck": ["type": "none"],
            "backends": backends.map { ["name": $0.0, "address": "127.0.0.1:\($0.1)"] },
        ]
        for (key, value) in extra { service[key] = value }
        return service
    }

    @Test func a256MiBTransferArrivesByteIdenticalInEachDirection() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let (http, httpPort) = try BackendProcess.start(name: "pub1")
        defer { http.terminate() }
        let balancer = try BalancerProcess(services: [
            service("echo", backends: [("echo1", echoPort)]),
            service("publishing", backends: [("pub1", httpPort)]),
        ])
        defer { balancer.process.terminate() }

        // Client → backend → client: 256 MiB up and the same back, hashed on both sides.
        let size = 256 << 20
        let generator = ContentGenerator(name: "upload")
        let client = try TCPClient(port: balancer.port("echo"), timeout: .seconds(30))
        let received = Mutex<(count: Int, hash: String)>((0, ""))
        let readerDone = Atomic<Bool>(false)
        try WorkerThread.detach(name: "test") {
            let hasher = SHA256Hasher()
            var total = 0
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while let n = try? client.read(into: buffer), n > 0 {
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                total += n
            }
            let digest = hasher.finalize()
            received.withLock { $0 = (total, digest) }
            readerDone.store(true, ordering: .releasing)
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        var offset = 0
        while offset < size {
            generator.fill(offset: UInt64(offset), into: chunk)
            try client.sendAll(UnsafeRawBufferPointer(chunk))
            offset += chunk.count
        }
        client.shutdownWrite()
        try waitUntil("the echo of 256 MiB to come back", timeout: .seconds(120)) { readerDone.load(ordering: .acquiring) }
        let result = received.withLock { $0 }
        #expect(result.count == size)
        #expect(result.hash == generator.sha256(size: UInt64(size)))

        // Backend → client: a 256 MiB download.
        let hasher = SHA256Hasher()
        let download = try TestHTTPClient(timeout: .seconds(30)).download(port: balancer.port("publishing"), path: "/content/pkg?size=256MiB") {
            hasher.update($0)
        }
        #expect(download.status == 200)
        #expect(download.bytesReceived == UInt64(size))
        #expect(hasher.finalize() == ContentGenerator(name: "pkg").sha256(size: UInt64(size)))
    }

    @Test func aClientThatHalfClosesStillReceivesTheWholeResponse() throws {
        let (http, httpPort) = try BackendProcess.start(name: "pub1")
        defer { http.terminate() }
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [
            service("publishing", backends: [("pub1", httpPort)]),
            service("echo", backends: [("echo1", echoPort)]),
        ])
        defer { balancer.process.terminate() }

        // HTTP/1.0 request, then FIN at once: the 4 MiB response must still arrive in full.
        let client = try TCPClient(port: balancer.port("publishing"))
        try client.sendAll("GET /content/half?size=4MiB HTTP/1.0\r\nHost: test\r\n\r\n")
        client.shutdownWrite()
        let response = try client.readToEOF()
        let separator = Array("\r\n\r\n".utf8)
        let headEnd = try #require(response.indices.first { response[$0...].starts(with: separator) })
        let body = Array(response[(headEnd + 4)...])
        #expect(String(decoding: response[..<headEnd], as: UTF8.self).hasPrefix("HTTP/1.0 200") ||
                String(decoding: response[..<headEnd], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        #expect(body.count == 4 << 20)
        #expect(SHA256Hasher.hex(of: body) == ContentGenerator(name: "half").sha256(size: 4 << 20))

        // Raw TCP: the echo of everything sent before the FIN comes back, then EOF.
        let raw = try TCPClient(port: balancer.port("echo"))
        let message = ContentGenerator(name: "fin").bytes(offset: 0, count: 300_000)
        try raw.sendAll(message)
        raw.shutdownWrite()
        #expect(try raw.readToEOF() == message)
    }

    @Test func aBackendsLastBytesAndItsFINReachTheClientInOneSegment() throws {
        // A server that speaks first and hangs up (a banner, an error): its greeting and FIN
        // come in one segment, and the client should get them as one too, not as a data
        // segment, an ACK back and a FIN segment.
        let listener = try BlockingSocket.listen(on: SocketAddress(ipv4: 0x7F00_0001, port: 0), backlog: 4)
        defer { Glibc.close(listener) }
        let backendPort = try BlockingSocket.boundPort(listener)
        let balancer = try BalancerProcess(services: [service("banner", backends: [("banner1", backendPort)])])
        defer { balancer.process.terminate() }
        let greeting = Array("220 bascule test banner\r\n".utf8)
        try WorkerThread.detach(name: "test") {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            defer { Glibc.close(fd) }
            _ = greeting.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_MORE) | Int32(MSG_NOSIGNAL)) }
            _ = shutdown(fd, Int32(SHUT_WR))
            var sink = [UInt8](repeating: 0, count: 64)
            while recv(fd, &sink, sink.count, 0) > 0 {}
        }

        let client = try TCPClient(port: balancer.port("banner"), timeout: .seconds(10))
        defer { client.close() }
        #expect(try client.readToEOF() == greeting)
        // The client sent nothing, so all it received is the SYN-ACK and what the relay sent.
        #expect(try segmentsReceived(client.fd) == 2)
    }

    @Test func aStreamCutOnOneSideIsResetOnTheOtherNotEndedCleanly() throws {
        // A backend that dies in the middle of a download (RST), and a client that dies in
        // the middle of an upload: the surviving peer must see the stream broken. A FIN would
        // make a truncated transfer look complete to a protocol without its own framing.
        let listener = try BlockingSocket.listen(on: SocketAddress(ipv4: 0x7F00_0001, port: 0), backlog: 4)
        defer { Glibc.close(listener) }
        let backendPort = try BlockingSocket.boundPort(listener)
        let balancer = try BalancerProcess(services: [service("raw", backends: [("raw1", backendPort)])])
        defer { balancer.process.terminate() }
        let payload = ContentGenerator(name: "cut").bytes(offset: 0, count: 256 << 10)

        // 1. Download: the backend sends 256 KiB and resets. It waits for the client's first
        // bytes, so the relay is established before the reset (a reset that beats the connect's
        // completion is a failed connect, retried elsewhere, not a cut stream).
        try WorkerThread.detach(name: "test") {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            var go = [UInt8](repeating: 0, count: 3)
            guard recv(fd, &go, go.count, Int32(MSG_WAITALL)) == go.count else { Glibc.close(fd); return }
            try? BlockingSocket.writeAll(fd, payload)
            var abort = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
            Glibc.close(fd)
        }
        let downloader = try TCPClient(port: balancer.port("raw"), timeout: .seconds(10))
        defer { downloader.close() }
        try downloader.sendAll("go\n")
        var downloadEnd: Int32 = 0  // 0: clean EOF
        var downloaded = 0
        while true {
            do {
                let chunk = try downloader.read()
                if chunk.isEmpty { break }
                downloaded += chunk.count
            } catch let error as SystemError {
                downloadEnd = error.errno
                break
            }
        }
        #expect(downloadEnd == ECONNRESET, "the client saw \(downloadEnd == 0 ? "a clean end" : "errno \(downloadEnd)") after \(downloaded) bytes")
        #expect(downloaded <= payload.count)

        // 2. Upload: the client sends 100 KB and resets; the backend must not read a clean end.
        let uploadEnd = Mutex<Int32?>(nil)
        let uploadReceived = Atomic<Int>(0)
        try WorkerThread.detach(name: "test") {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            defer { Glibc.close(fd) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                do throws(SystemError) {
                    let n = try BlockingSocket.read(fd, into: buffer)
                    if n == 0 { uploadEnd.withLock { $0 = 0 }; return }
                    uploadReceived.add(n, ordering: .relaxed)
                } catch {
                    uploadEnd.withLock { $0 = error.errno }
                    return
                }
            }
        }
        let uploader = try TCPClient(port: balancer.port("raw"), timeout: .seconds(10))
        try uploader.sendAll(Array(payload[0..<100_000]))
        try waitUntil("the backend to receive the upload") { uploadReceived.load(ordering: .relaxed) == 100_000 }
        uploader.setResetOnClose()
        uploader.close()
        try waitUntil("the backend to see the upload end") { uploadEnd.withLock { $0 } != nil }
        let end = uploadEnd.withLock { $0 }
        #expect(end == ECONNRESET, "the backend saw \(end == 0 ? "a clean end" : "errno \(end ?? -1)")")
        #expect(try balancer.metric("bascule_backend_connect_errors_total") == 0)
    }

    @Test func aConnectionStillOpenWhenTheDrainTimeRunsOutIsResetNotEnded() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [service("echo", backends: [("echo1", echoPort)])],
                                           defaults: ["drainTimeoutMs": 300])
        defer { balancer.process.terminate() }
        let client = try TCPClient(port: balancer.port("echo"), timeout: .seconds(10))
        defer { client.close() }
        try client.sendAll("still talking\n")
        #expect(try client.read() == Array("still talking\n".utf8))

        balancer.process.signal(SIGTERM)
        // The client keeps the connection open past drainTimeoutMs: Bascule cuts it, and says so.
        var end: Int32 = 0
        do { _ = try client.readToEOF() } catch let error as SystemError { end = error.errno }
        #expect(end == ECONNRESET, "the client saw \(end == 0 ? "a clean end" : "errno \(end)")")
        #expect(balancer.process.waitForExit(timeout: .seconds(10)) == 0)
    }

    /// tcpi_segs_in from the kernel's struct tcp_info (linux/tcp.h; glibc's copy of the struct
    /// stops before it). Offset 140 on every architecture: the fields before it are fixed-size.
    private func segmentsReceived(_ fd: Int32) throws -> UInt32 {
        var info = [UInt8](repeating: 0, count: 256)
        var length = socklen_t(info.count)
        let result = info.withUnsafeMutableBytes { getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, $0.baseAddress, &length) }
        try #require(result == 0 && length >= 144, "getsockopt(TCP_INFO) returned \(length) bytes")
        return info.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 140, as: UInt32.self) }
    }

    @Test func aThousandConcurrentConnectionsAllComplete() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [service("echo", backends: [("echo1", echoPort)])], workers: 2)
        defer { balancer.process.terminate() }

        // All open at once before any is used, so the balancer really holds 1,000 pairs.
        var clients: [TCPClient] = []
        for _ in 0..<1000 { clients.append(try TCPClient(port: balancer.port("echo"), timeout: .seconds(20))) }
        for (index, client) in clients.enumerated() { try client.sendAll("hello \(index)\n") }
        var answered = 0
        for (index, client) in clients.enumerated() {
            let expected = Array("hello \(index)\n".utf8)
            var got: [UInt8] = []
            while got.count < expected.count {
                let bytes = try client.read(maxBytes: 64)
                if bytes.isEmpty { break }
                got += bytes
            }
            if got == expected { answered += 1 }
        }
        #expect(answered == 1000)
        clients.forEach { $0.close() }
        try waitUntil("every proxied connection to close") {
            try balancer.metric("bascule_backend_active_connections") == 0
        }
    }

    @Test func aBackendThatRefusesConnectionsIsSkippedWithoutTheClientNoticing() throws {
        let (pub1, port1) = try BackendProcess.start(name: "pub1")
        defer { pub1.terminate() }
        let refusing = try freeLoopbackPort()  // nothing listens there
        let balancer = try BalancerProcess(services: [
            service("publishing", backends: [("dead", refusing), ("pub1", port1)], extra: ["retries": 2]),
        ])
        defer { balancer.process.terminate() }

        for _ in 0..<20 {
            let response = try TestHTTPClient().get(port: balancer.port("publishing"), path: "/whoami")
            #expect(response.status == 200)
            #expect(response.bodyText == "pub1\n")
        }
        let failures = try balancer.metric("bascule_backend_connect_errors_total", ["backend": "dead"])
        #expect(failures >= 10)
        // Every failed connect to "dead" was tried again, on pub1.
        #expect(try balancer.metric("bascule_service_retries_total", ["service": "publishing"]) == failures)
    }

    @Test func whenEveryBackendRefusesTheClientIsClosedAndCounted() throws {
        let balancer = try BalancerProcess(services: [
            service("publishing", backends: [("dead1", try freeLoopbackPort()), ("dead2", try freeLoopbackPort())]),
        ])
        defer { balancer.process.terminate() }
        let client = try TCPClient(port: balancer.port("publishing"))
        try client.sendAll("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        // Closed with its request unread, so the kernel may answer with a reset: either way
        // the client gets no bytes and no hang.
        let answer = (try? client.readToEOF()) ?? []
        #expect(answer.isEmpty)
        try waitUntil("the failed connection to be counted") {
            try balancer.metric("bascule_service_connections_failed_total") == 1
        }
    }

    @Test func atTheDescriptorLimitItKeepsServingRefusesTheRestIdlesAndRecovers() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [service("echo", backends: [("echo1", echoPort)])],
                                           shell: "ulimit -n 64;")
        defer { balancer.process.terminate() }

        // 64 descriptors hold ~20 proxied connections (two sockets each, plus the process's own).
        var held: [TCPClient] = []
        for index in 0..<20 {
            // The first refusal (closed or reset) means the limit is reached.
            guard let client = try? TCPClient(port: balancer.port("echo"), timeout: .seconds(5)),
                  (try? client.sendAll("held \(index)\n")) != nil,
                  (try? client.read(maxBytes: 64)) == Array("held \(index)\n".utf8) else { break }
            held.append(client)
        }
        #expect(held.count >= 5)
        // Far more than the limit: each is refused (closed) or left unserved, never a crash.
        var refused = 0
        for _ in 0..<40 {
            guard let extra = try? TCPClient(port: balancer.port("echo"), timeout: .seconds(2)) else { refused += 1; continue }
            try? extra.sendAll("x\n")
            if ((try? extra.read(maxBytes: 8)) ?? []).isEmpty { refused += 1 }
            extra.close()
        }
        #expect(refused > 0)
        // Idle at the limit: no busy loop.
        let before = try Self.cpuTicks(balancer.process.pid)
        sleep(for: .seconds(1))
        let after = try Self.cpuTicks(balancer.process.pid)
        #expect(after - before <= 5, "balancer used \(after - before) ticks in 1 s while idle at the descriptor limit")
        // The connections it has still work.
        for (index, client) in held.enumerated() {
            try client.sendAll("again \(index)\n")
            #expect(try client.read(maxBytes: 64) == Array("again \(index)\n".utf8))
        }
        // And it recovers once they close.
        held.forEach { $0.close() }
        try waitUntil("a new connection to be served after the others closed", timeout: .seconds(10)) {
            guard let client = try? TCPClient(port: balancer.port("echo"), timeout: .seconds(2)) else { return false }
            try? client.sendAll("back\n")
            return ((try? client.read(maxBytes: 8)) ?? []) == Array("back\n".utf8)
        }
    }

    /// Connections that went quiet after a download must not keep their splice pipes: two
    /// descriptors each would run the process out of them long before its connection limit.
    @Test func connectionsIdleAfterADownloadGiveTheirPipesBack() throws {
        let (http, httpPort) = try BackendProcess.start(name: "pub1")
        defer { http.terminate() }
        let balancer = try BalancerProcess(services: [service("publishing", backends: [("pub1", httpPort)])])
        defer { balancer.process.terminate() }
        let pid = balancer.process.pid
        func descriptors() -> Int {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        }
        let before = descriptors()
        let count = 500
        var held: [HTTPClientConnection] = []
        defer { held.forEach { $0.close() } }
        for index in 0..<count {
            let connection = try TestHTTPClient(timeout: .seconds(10)).connect(port: balancer.port("publishing"))
            held.append(connection)
            // Bigger than the relay's 16 KiB buffer: the response direction switches to splice.
            let download = try connection.download(path: "/content/idle\(index)?size=256KiB") { _ in }
            #expect(download.bytesReceived == 256 << 10)
        }
        let peak = descriptors()
        // Two sockets per connection stay; past the pool's 256 pipes a drained connection gives
        // its pipe back at once, the others within pipeIdleMs.
        let bound = before + 2 * count + 2 * 256
        try waitUntil("idle connections to give their pipes back (\(descriptors()) descriptors, bound \(bound))",
                      timeout: .seconds(5)) {
            descriptors() <= bound
        }
        print("relay: \(count) connections idle after a 256 KiB download: \(peak - before) descriptors right after, \(descriptors() - before) once idle")
        // Still usable: the next download on an idle connection takes a pipe again.
        #expect(try held[0].download(path: "/content/again?size=1MiB") { _ in }.bytesReceived == 1 << 20)
    }

    @Test func sigtermDuringADownloadLetsItFinishRefusesNewConnectionsAndExitsZero() throws {
        let (http, httpPort) = try BackendProcess.start(name: "pub1")
        defer { http.terminate() }
        let balancer = try BalancerProcess(services: [service("publishing", backends: [("pub1", httpPort)])])
        defer { balancer.process.terminate() }

        let connection = try TestHTTPClient(timeout: .seconds(30)).connect(port: balancer.port("publishing"))
        let hasher = SHA256Hasher()
        let size: UInt64 = 100 << 20
        var signalled = false
        let download = try connection.download(path: "/content/drain?size=100MiB") { bytes in
            hasher.update(bytes)
            if !signalled {
                signalled = true
                balancer.process.signal(SIGTERM)
                try waitUntil("the listener to close") {
                    (try? TCPClient(port: balancer.port("publishing"), timeout: .seconds(1))) == nil
                }
            }
        }
        connection.close()
        #expect(download.bytesReceived == size)
        #expect(hasher.finalize() == ContentGenerator(name: "drain").sha256(size: size))
        #expect(balancer.process.waitForExit(timeout: .seconds(15)) == 0)
    }

    static func cpuTicks(_ pid: pid_t) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!
    }
}
