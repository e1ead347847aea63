import BasculeConfig
import BasculeEventLoop
import BasculeProxy
import Glibc
import Logging

/// Why the admin server could not start, naming the address.
public struct AdminServerError: Error, CustomStringConvertible {
    public let description: String
}

/// The admin HTTP/1.1 server. It runs on the control loop beside health checks and signals,
/// so it never blocks: sockets are non-blocking, requests are bounded in size and time, and a
/// cap on open connections keeps a flood from using up descriptors.
public final class AdminServer: EventHandler {
    public struct Options: Sendable {
        public var limits = HTTPLimits()
        /// How long a client has to send its request and read the answer.
        public var requestTimeoutMs: UInt64 = 10_000
        /// How long a client has to send its request head: a connection that sends nothing
        /// holds its place this long, not the whole request time.
        public var requestHeadTimeoutMs: UInt64 = 2_000
        /// Connections for any route. Past these, `reservedConnections` more are accepted that
        /// answer only /healthz and /readyz; past those, the longest-silent connection is
        /// closed to make room, and only when none is silent is the new one closed.
        public var maxConnections = 64
        public var reservedConnections = 8
        /// Connections one address may hold at once, so one peer cannot fill the rest.
        public var maxConnectionsPerPeer = 8
        /// The dashboard's charts: a sample every 5 s, the last 10 minutes.
        public var historyIntervalMs: UInt64 = 5_000
        public var historySamples = 120

        public init() {}
    }

    let loop: EventLoop
    let limits: HTTPLimits
    let log: Logger
    private let options: Options
    private let router: AdminRouter
    private let history: TrafficHistory
    private let listenFD: Int32
    private var id = HandlerID.unregistered
    private var connections: [Int32: AdminConnection] = [:]
    private var connectionsPerPeer: [AdminPeer: Int] = [:]
    private var reservedInUse = 0
    private var acceptRetryAtMs: UInt64 = .max
    private var lastOverflowLogMs: UInt64 = 0
    private var closed = false
    private var responsesByCode: [Int: Int] = [:]

    /// The address actually bound (the real port when the config asked for port 0).
    public let boundAddress: SocketAddress
    public var boundPort: UInt16 { boundAddress.port }
    /// The listening socket, offered to a successor in a handover.
    public var listenDescriptor: Int32 { listenFD }

    /// Appended to /metrics at every scrape; each returns complete exposition text
    /// (HELP, TYPE and samples), for subsystems that land later (health checks, workers).
    public var extraMetrics: [() -> String] {
        get { router.extraMetrics }
        set { router.extraMetrics = newValue }
    }

    /// Extra top-level members of /status, for the same subsystems.
    public var extraStatus: [(key: String, value: () -> JSONValue)] {
        get { router.extraStatus }
        set { router.extraStatus = newValue }
    }

    /// `inheritedListener`: the admin socket received from the process this one takes over
    /// (same `admin.listen`), used instead of binding a new one.
    public init(loop: EventLoop, config: AdminConfig, target: AdminTarget, log: Logger,
                options: Options = Options(), inheritedListener: Int32? = nil) throws {
        self.loop = loop
        self.limits = options.limits
        self.log = log
        self.options = options
        if let inheritedListener {
            listenFD = inheritedListener
        } else {
            do {
                listenFD = try AdminListener.open(on: SocketAddress(config.listen))
            } catch {
                throw AdminServerError(description: "admin: cannot listen on \(config.listen): \(error.reason)")
            }
        }
        boundAddress = AdminListener.localAddress(listenFD)
        router = AdminRouter(target: target, token: config.token, log: log, startedAtMs: loop.nowMs)
        history = TrafficHistory(loop: loop, target: target, intervalMs: options.historyIntervalMs,
                                 capacity: options.historySamples)
        router.history = history
        router.requestCounts = { [unowned self] in self.responsesByCode }
        id = loop.register(self)
        do {
            try loop.watch(listenFD, events: [.readable, .edgeTriggered], handler: id)
        } catch {
            history.stop()
            loop.unregister(id)
            closeDescriptor(listenFD)
            throw AdminServerError(description: "admin: cannot watch \(config.listen): \(error.reason)")
        }
        log.info("admin endpoint listening", metadata: [
            "listen": "\(boundAddress)", "token": "\(config.token.isEmpty ? "none (loopback callers only)" : "required")",
        ])
    }

    /// A reload's new `admin.token`: rotating or adding a token must not wait for a restart.
    /// Must run on the loop's thread (reloads do).
    public func updateToken(_ token: String) {
        guard token != router.token else { return }
        router.token = token
        log.notice("admin token changed by reload", metadata: ["token": "\(token.isEmpty ? "none (loopback callers only)" : "required")"])
    }

    /// Stops listening and closes every admin connection. Must run on the loop's thread.
    public func close() {
        guard !closed else { return }
        closed = true
        history.stop()
        loop.unregister(id)
        // Unwatched first: after a handover the socket lives on in the successor, and epoll
        // would keep reporting it here until its last descriptor closes.
        loop.unwatch(listenFD)
        closeDescriptor(listenFD)
        for connection in Array(connections.values) { connection.close() }
    }

    public var openConnectionCount: Int { connections.count }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {
        acceptPending()
    }

    public func handleTimer(nowMs: UInt64) {
        guard acceptRetryAtMs != .max, nowMs >= acceptRetryAtMs else { return }
        acceptRetryAtMs = .max
        acceptPending()
    }

    /// Accepts until the queue is empty: the socket is edge-triggered, so leaving one behind
    /// would leave it there until the next client arrives.
    private func acceptPending() {
        while !closed {
            let accepted: (fd: Int32, peer: SocketAddress)?
            do {
                accepted = try AdminListener.accept(listenFD)
            } catch {
                if error.errno == ECONNABORTED || error.errno == EPROTO { continue }
                // Out of descriptors or memory: try again shortly rather than spin.
                log.error("admin: accept failed", metadata: ["error": "\(error)"])
                acceptRetryAtMs = loop.nowMs + 100
                loop.schedule(id, atMs: acceptRetryAtMs)
                return
            }
            guard let (fd, peer) = accepted else { return }
            let key = AdminPeer(peer)
            guard connectionsPerPeer[key, default: 0] < options.maxConnectionsPerPeer else {
                noteOverflow(peer, "too many open connections from this peer", limit: options.maxConnectionsPerPeer)
                closeDescriptor(fd)
                continue
            }
            guard let reserved = place() else {
                noteOverflow(peer, "too many open connections; closing new ones",
                             limit: options.maxConnections + options.reservedConnections)
                closeDescriptor(fd)
                continue
            }
            let connection = AdminConnection(fd: fd, peer: peer, server: self, reserved: reserved,
                                             headDeadlineMs: loop.nowMs + options.requestHeadTimeoutMs,
                                             deadlineMs: loop.nowMs + options.requestTimeoutMs)
            do {
                try connection.start(on: loop)
                connections[fd] = connection
                connectionsPerPeer[key, default: 0] += 1
                if reserved { reservedInUse += 1 }
            } catch {
                log.error("admin: cannot watch a client", metadata: ["peer": "\(peer)", "error": "\(error)"])
                closeDescriptor(fd)
            }
        }
    }

    /// Where a new connection goes: a general place (false), a reserved one (true), or none.
    /// With both full, the connection silent longest (accepted, nothing received) is closed:
    /// a flood of idle connections then only ever pushes out its own.
    private func place() -> Bool? {
        let general = connections.count - reservedInUse
        if general < options.maxConnections { return false }
        if reservedInUse < options.reservedConnections { return true }
        let silent = connections.values.filter { $0.isSilent }.min { $0.acceptedAtMs < $1.acceptedAtMs }
        guard let silent else { return nil }
        let wasReserved = silent.reserved
        silent.close()
        return wasReserved
    }

    /// At most one line a second: a flood must not turn into a flood of log lines.
    private func noteOverflow(_ peer: SocketAddress, _ message: Logger.Message, limit: Int) {
        guard loop.nowMs >= lastOverflowLogMs + 1000 else { return }
        lastOverflowLogMs = loop.nowMs
        log.warning("admin: \(message)", metadata: ["peer": "\(peer)", "limit": "\(limit)"])
    }

    func respond(to request: HTTPRequest, peer: SocketAddress, reserved: Bool) -> HTTPResponse {
        // A reserved place answers only what failover depends on, so a flood that fills the
        // general places cannot make keepalived or the route announcer fail this node over.
        if reserved && request.path != "/healthz" && request.path != "/readyz" {
            return .text(.serviceUnavailable, "admin endpoint busy: only /healthz and /readyz are answered now")
        }
        let response = router.response(for: request, peer: peer)
        log.debug("admin request", metadata: [
            "peer": "\(peer)", "route": "\(request.method) \(request.path)", "status": "\(response.status.code)",
        ])
        return response
    }

    func connectionClosed(_ connection: AdminConnection) {
        guard connections[connection.fd] === connection else { return }
        connections[connection.fd] = nil
        if connection.reserved { reservedInUse -= 1 }
        let key = AdminPeer(connection.peer)
        if let count = connectionsPerPeer[key], count > 1 {
            connectionsPerPeer[key] = count - 1
        } else {
            connectionsPerPeer[key] = nil
        }
    }

    func count(_ status: HTTPStatus) {
        responsesByCode[status.code, default: 0] += 1
    }

    func noteRejected(peer: SocketAddress, status: HTTPStatus, reason: String) {
        log.info("admin: rejected malformed request", metadata: [
            "peer": "\(peer)", "status": "\(status.code)", "reason": "\(reason)",
        ])
    }

    func noteTimeout(peer: SocketAddress) {
        log.info("admin: request timed out", metadata: ["peer": "\(peer)"])
    }
}
