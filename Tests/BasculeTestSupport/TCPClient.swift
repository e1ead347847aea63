import BasculeConfig
import BasculePosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A test's address literal ("127.0.0.1", "::1"), through config's parser like every address.
public func testAddress(_ host: String, _ port: UInt16) -> SocketAddress {
    SocketAddress(bytes: IPAddress(host)!.bytes, port: port)
}

/// A blocking TCP client socket on loopback with a timeout on every read and write.
///
/// Sendable so one thread can send while another reads (an echo test must, or both sides
/// fill their socket buffers and stall). A timeout surfaces as a `SystemError` whose
/// `isTimeout` is true.
public final class TCPClient: Sendable {
    public let fd: Int32
    private let closed = Atomic<Bool>(false)

    /// Connects to `host` ("127.0.0.1" or "::1") and `port`.
    /// `source` binds the client's own address first (another loopback address, port 0).
    public init(host: String = "127.0.0.1", port: UInt16, timeout: Duration = .seconds(10), source: String? = nil) throws {
        fd = try BlockingSocket.connect(to: testAddress(host, port), timeoutSeconds: timeout.seconds,
                                        source: source.map { testAddress($0, 0) })
    }

    deinit { close() }

    public func sendAll(_ bytes: [UInt8]) throws {
        try BlockingSocket.writeAll(fd, bytes)
    }

    public func sendAll(_ text: String) throws {
        try sendAll(Array(text.utf8))
    }

    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        try BlockingSocket.writeAll(fd, bytes)
    }

    /// Reads what is available into `buffer`; 0 means the peer closed its side.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try BlockingSocket.read(fd, into: buffer)
    }

    /// Reads what is available, up to `maxBytes`; empty means the peer closed its side.
    public func read(maxBytes: Int = 64 * 1024) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: maxBytes) { storage, initialized in
            initialized = try BlockingSocket.read(fd, into: UnsafeMutableRawBufferPointer(storage))
        }
    }

    /// Reads until the peer closes, failing if more than `limit` bytes arrive.
    public func readToEOF(limit: Int = 64 << 20) throws -> [UInt8] {
        var result: [UInt8] = []
        while true {
            let chunk = try read()
            if chunk.isEmpty { return result }
            result += chunk
            if result.count > limit { throw SystemError(errno: EFBIG, call: "readToEOF (more than \(limit) bytes)") }
        }
    }

    /// Half-close: the peer reads EOF, our read side stays open for its answer.
    public func shutdownWrite() {
        BlockingSocket.shutdownWrite(fd)
    }

    /// Makes the next close send RST instead of FIN (SO_LINGER 0), as a crashed client would.
    public func setResetOnClose() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }

    /// Idempotent, so an explicit close and `deinit` never close a reused descriptor.
    public func close() {
        if closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            _ = Glibc.close(fd)
        }
    }
}
