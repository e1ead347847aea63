import BasculePosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runtime state the admin routes change and every connection reads.
final class BackendState: Sendable {
    let failing = Atomic<Bool>(false)
    let slowMilliseconds = Atomic<Int>(0)
    let activeConnections = Atomic<Int>(0)
    let requestsServed = Atomic<Int>(0)
    /// What the agent port answers (`--agent-listen`), set by `POST /admin/agent?say=`.
    let agentSays = Mutex("up")
}

/// The backend: a listening socket, an accept thread, and one blocking thread per connection.
///
/// Thread-per-connection keeps the backend obviously correct (it is the reference the balancer
/// is tested against); a thousand idle keep-alive connections cost a thousand small stacks.
/// A server lives as long as its process: there is no stop, the process exits instead.
public final class BackendServer: Sendable {
    public let configuration: BackendConfiguration
    /// The listening address with the real port (the kernel's choice when asked for port 0).
    public let boundAddress: SocketAddress
    /// The agent port with its real port, when `agentListen` was given.
    public var boundAgentAddress: SocketAddress? { agent?.boundAddress }
    let state = BackendState()
    private let listener: Int32
    private let agent: AgentResponder?

    /// Seconds a connection may sit idle (no request, no echo data) before the backend drops it.
    static let idleTimeoutSeconds = 300.0

    /// Binds and listens; connections queue in the backlog until `start()`.
    public init(configuration: BackendConfiguration) throws(SystemError) {
        self.configuration = configuration
        listener = try BlockingSocket.listen(on: configuration.listen)
        do throws(SystemError) {
            boundAddress = configuration.listen.withPort(try BlockingSocket.boundPort(listener))
            if let address = configuration.agentListen {
                agent = try AgentResponder(listen: address, state: state)
            } else {
                agent = nil
            }
        } catch {
            closeDescriptor(listener)
            throw error
        }
    }

    /// Starts the accept threads and returns.
    public func start() throws(SystemError) {
        try WorkerThread.detach(name: "backend-accept") { [self] in acceptLoop() }
        try agent?.start()
    }

    private func acceptLoop() {
        while true {
            let fd: Int32
            do {
                fd = Int32(try syscallValue("accept") { Int(accept(listener, nil, nil)) })
            } catch {
                switch error.errno {
                case ECONNABORTED, EPROTO:
                    continue
                case EINVAL, ENOTSOCK:
                    // The listener itself is broken: a bug, so stop loudly rather than spin.
                    fatalError("accept on listener \(listener) failed: \(error)")
                default:
                    // Out of descriptors or memory (EMFILE, ENOBUFS...): back off instead of
                    // spinning; queued clients wait.
                    if error.errno != EMFILE && error.errno != ENFILE { logToStandardError("accept failed: \(error)") }
                    usleep(10_000)
                    continue
                }
            }
            try? SocketCalls.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)")
            try? BlockingSocket.setTimeouts(fd, seconds: BackendServer.idleTimeoutSeconds)
            do {
                try WorkerThread.detach(name: "backend-conn") { [self] in serve(fd) }
            } catch {
                logToStandardError("\(error); dropping connection")
                closeDescriptor(fd)
            }
        }
    }

    private func serve(_ fd: Int32) {
        state.activeConnections.add(1, ordering: .relaxed)
        defer { state.activeConnections.subtract(1, ordering: .relaxed) }
        switch configuration.mode {
        case .http:
            var connection = HTTPConnection(fd: fd, configuration: configuration, state: state)
            connection.run()
        case .echo:
            EchoConnection(fd: fd).run()
        }
    }
}

/// Unbuffered, so a line is never lost or interleaved mid-way when the process is killed.
func logToStandardError(_ message: String) {
    let line = Array("bascule-backend: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
