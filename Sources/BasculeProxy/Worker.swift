import BasculeBalancing
import BasculeEventLoop
import Glibc
import Logging

/// Messages from the control thread to a worker.
enum WorkerMessage: Sendable {
    case table(ServiceTable)
    case addService(WorkerService)
    case removeService(id: Int)
    /// Reset the open connections to these backends (marked down, or left by failback).
    case resetConnections(to: [BackendCounters], reason: CloseReason)
    case stopAccepting
    case closeAll
}

/// What a worker needs to serve one service: the table, its own traffic counters for it, and
/// its own listening socket (and any surplus sockets it serves after a takeover with fewer
/// workers, `ListenerBinding.sockets`).
struct WorkerService: Sendable {
    let table: ServiceTable
    let traffic: TrafficStats
    let listener: Int32
    var moreListeners: [Int32] = []
}

/// Messages from a worker to the control thread.
enum ControlMessage: Sendable {
    case workerIdle(worker: Int)
    case workerStopped(worker: Int)
    /// The counters identify the backend across table rebuilds and reloads.
    case connectFailed(counters: BackendCounters, errno: Int32)
}

/// A share-nothing worker: one thread, one epoll loop, its own listening socket per service,
/// its connections, pipes and buffers. Nothing here is touched by another thread; the control
/// thread talks to it only through its mailbox.
final class Worker {
    let index: Int
    let loop: EventLoop
    let log: Logger
    let pipes = PipePool()
    let buffers: BufferPool
    let scratch: UnsafeMutableRawBufferPointer
    private var services: [ServiceRuntime] = []
    /// Touched twice per connection (accept, close). Unchecked: only this thread touches it and
    /// no access spans a call that could come back to it (a connection is removed by the
    /// worker only after it has finished and been unregistered), so the runtime's exclusivity
    /// check could never fire.
    @exclusivity(unchecked) private var live: [ProxiedConnection] = []
    private var receiver: MailboxReceiver<WorkerMessage>?
    private let control: Mailbox<ControlMessage>
    let processLimits: ProcessLimits
    let accessLog: AccessLogWriter?
    private var accessLogBuffer: [UInt8] = []
    private var accessLogLines = 0
    /// Numbers connections in accept order for the access log's `id`.
    private(set) var acceptedSequence: UInt64 = 0
    private var lastRefusalLogMs: UInt64 = 0
    private var refusalsSinceLog = 0
    private var reserveDescriptor: Int32
    private var acceptStalled = false
    private var draining = false
    /// Addresses shared by services that route by TLS server name, and the connections still
    /// waiting for their ClientHello (Worker+ServerNameRouting.swift).
    var routedListeners: [RoutedListener] = []
    var pendingIntakes = 0
    var clientHelloPeek = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    var clientHelloScratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    var connectionCount: Int { live.count }

    init(index: Int, services initial: [WorkerService], routed: [WorkerRoutedAddress] = [], mailbox: Mailbox<WorkerMessage>,
         control: Mailbox<ControlMessage>, processLimits: ProcessLimits, accessLog: AccessLogWriter?,
         log: Logger) throws(SystemError) {
        self.index = index
        self.processLimits = processLimits
        self.accessLog = accessLog
        self.control = control
        self.log = log
        loop = try EventLoop()
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        buffers = BufferPool(bufferSize: scratch.count)
        // Held in reserve so that at the descriptor limit one can be freed to accept and
        // close a client, instead of leaving it queued with no answer.
        reserveDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
        receiver = try MailboxReceiver(mailbox, on: loop) { [unowned self] message in
            self.receive(message)
        }
        for service in initial {
            try add(service)
        }
        for address in routed {
            routedListeners.append(try RoutedListener(address, worker: self))
        }
        if accessLog != nil {
            // Lines leave in one batch per loop iteration: the writer thread gets one message
            // for however many connections closed in it.
            loop.afterIteration = { [unowned self] in self.flushAccessLog() }
        }
    }

    deinit {
        scratch.deallocate()
        clientHelloPeek.deallocate()
        clientHelloScratch.deallocate()
        if reserveDescriptor >= 0 { closeDescriptor(reserveDescriptor) }
    }

    func run() {
        do {
            try loop.run()
        } catch {
            log.critical("worker event loop failed", metadata: ["worker": "\(index)", "error": "\(error)"])
        }
        for service in services { service.listener?.close() }
        for listener in routedListeners { listener.close() }
        control.post(.workerStopped(worker: index))
    }

    private func add(_ service: WorkerService) throws(SystemError) {
        // Each worker's copy of a strategy gets its own seed (random draws, round-robin offset).
        let runtime = ServiceRuntime(table: service.table, traffic: service.traffic,
                                     seed: 0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1))
        services.append(runtime)
        // A service on an address routed by server name has no listener of its own (-1).
        if service.listener < 0 {
            return
        } else if draining {
            closeDescriptor(service.listener)
            service.moreListeners.forEach(closeDescriptor)
        } else {
            runtime.listener = try Listener(fds: [service.listener] + service.moreListeners, worker: self, service: runtime)
        }
    }

    private func receive(_ message: WorkerMessage) {
        switch message {
        case .table(let table):
            if let runtime = services.first(where: { $0.table.id == table.id }) {
                runtime.update(table)
                table.noteInstalled()
            }
        case .addService(let service):
            do {
                try add(service)
            } catch {
                log.error("worker could not start a reloaded service", metadata: [
                    "worker": "\(index)", "service": "\(service.table.config.name)", "error": "\(error)"])
            }
        case .removeService(let id):
            // Its open connections keep their own reference to the runtime and run on.
            if let position = services.firstIndex(where: { $0.table.id == id }) {
                services[position].listener?.close()
                services.remove(at: position)
            }
        case .resetConnections(let counters, let reason):
            resetConnections(to: counters, reason: reason)
        case .stopAccepting:
            draining = true
            for service in services {
                service.listener?.close()
                service.listener = nil
            }
            for listener in routedListeners { listener.close() }
            routedListeners = []
            if live.isEmpty && pendingIntakes == 0 { control.post(.workerIdle(worker: index)) }
        case .closeAll:
            while let connection = live.last {
                connection.finish(.shutdown)
            }
            flushAccessLog()
            loop.stop()
        }
    }

    // MARK: Connections

    /// `route`: on an address routed by server name, the name matched (or "default"), for
    /// the access log.
    func startConnection(client: Int32, peer: SocketAddress, service: ServiceRuntime, route: String? = nil) {
        service.traffic.accepted.bump()
        acceptedSequence &+= 1
        let table = service.table
        var admission = Admission()
        if let refusal = admit(&admission, service, table, address: peer, at: .accept) {
            closeDescriptor(client)
            if accessLog != nil { recordRefusal(service, peer: peer, end: refusal, route: route) }
            return
        }
        let hash = service.wantsClientHash ? Self.clientHash(peer, network: table.config.affinity == .network) : 0
        let connection = ProxiedConnection(worker: self, service: service, client: client, clientHash: hash,
                                           clientAddress: peer, admission: admission)
        connection.route = route
        connection.liveIndex = live.count
        live.append(connection)
        connection.start()
    }

    func recordAccess(_ record: AccessLogRecord) {
        AccessLogLine.append(to: &accessLogBuffer, record)
        accessLogLines += 1
        if accessLogBuffer.count >= 64 * 1024 { flushAccessLog() }
    }

    private func recordRefusal(_ service: ServiceRuntime, peer: SocketAddress, end: CloseReason, route: String?) {
        let table = service.table
        recordAccess(AccessLogRecord(
            worker: index, sequence: acceptedSequence, service: table.config.name, listen: table.config.listen,
            client: peer, backend: nil, backendAddress: nil, queueNs: nil, connectNs: nil, totalNs: 0, retries: 0,
            bytesIn: 0, bytesOut: 0, serviceActive: table.activeConnections, backendActive: 0,
            end: end, backendClosedFirst: false, route: route))
    }

    func flushAccessLog() {
        guard let accessLog, accessLogLines > 0 else { return }
        accessLog.submit(accessLogBuffer, lines: accessLogLines)
        accessLogBuffer = []
        accessLogBuffer.reserveCapacity(64 * 1024 + 512)
        accessLogLines = 0
    }

    /// Refusals are counted always but logged at most once a second per worker, so a flood
    /// cannot turn into a flood of log lines.
    func noteRefusal(_ service: ServiceRuntime, _ what: String, peer: SocketAddress) {
        noteRefusal(["service": "\(service.table.config.name)"], what, peer: peer)
    }

    func noteRefusal(_ source: Logger.Metadata, _ what: String, peer: SocketAddress) {
        refusalsSinceLog += 1
        guard loop.nowMs >= lastRefusalLogMs + 1000 else { return }
        log.warning("connection \(what)", metadata: source.merging([
            "peer": "\(peer)", "refusedSinceLastLog": "\(refusalsSinceLog)",
        ]) { first, _ in first })
        lastRefusalLogMs = loop.nowMs
        refusalsSinceLog = 0
    }

    /// This worker's runtime of the service whose table has `id`.
    func service(id: Int) -> ServiceRuntime? {
        services.first { $0.table.id == id }
    }

    /// A connection left its ClientHello intake (handed to a service, or refused).
    func intakeFinished() {
        pendingIntakes -= 1
        if draining && live.isEmpty && pendingIntakes == 0 { control.post(.workerIdle(worker: index)) }
    }

    func connectionFinished(_ connection: ProxiedConnection, reason: CloseReason) {
        let index = connection.liveIndex
        guard index >= 0, index < live.count, live[index] === connection else { return }
        let last = live.removeLast()
        if index < live.count {
            live[index] = last
            last.liveIndex = index
        }
        connection.liveIndex = -1
        if acceptStalled {
            acceptStalled = false
            for service in services { service.listener?.acceptPending() }
            for listener in routedListeners { listener.acceptPending() }
        }
        // `self.index`: `index` here is the connection's slot, and a drain with more than one
        // worker waited for its deadline when every worker reported itself as worker 0.
        if draining && live.isEmpty && pendingIntakes == 0 { control.post(.workerIdle(worker: self.index)) }
    }

    /// Scans this worker's connections: the event is rare (a backend marked down), so a scan
    /// costs less than keeping a per-backend list up to date on every connect and close.
    /// Connections still connecting are left to their connect timeout, which retries them on
    /// another backend.
    private func resetConnections(to targets: [BackendCounters], reason: CloseReason) {
        var position = live.count - 1
        var count = 0
        while position >= 0 {
            // finish() moves the last connection into the freed slot: already visited.
            if position < live.count {
                let connection = live[position]
                if !connection.connecting, let counters = connection.lease?.counters, targets.contains(where: { $0 === counters }) {
                    if reason == .failback {
                        counters.resetOnFailback.add(1, ordering: .relaxed)
                    } else {
                        counters.resetOnDown.add(1, ordering: .relaxed)
                    }
                    connection.finish(reason)
                    count += 1
                }
            }
            position -= 1
        }
        if count > 0 {
            log.notice("reset connections", metadata: ["worker": "\(index)", "count": "\(count)", "reason": "\(reason.accessLogEnd(backendClosedFirst: false))"])
        }
    }

    func connectFailed(service: ServiceRuntime, backend: Int, counters: BackendCounters, errno code: Int32) {
        let target = service.table.backends[backend]
        log.warning("connect to backend failed", metadata: [
            "service": "\(service.table.config.name)", "backend": "\(target.name)",
            "address": "\(target.endpoint)", "error": "\(String(cString: strerror(code)))",
        ])
        control.post(.connectFailed(counters: counters, errno: code))
    }

    /// Frees the reserve descriptor, accepts one client and closes it at once. Returns false
    /// when even that fails, so the accept loop stops instead of spinning; the next closed
    /// connection retries.
    func refuseOneAtDescriptorLimit(listener: Int32) -> Bool {
        acceptStalled = true
        guard reserveDescriptor >= 0 else { return false }
        closeDescriptor(reserveDescriptor)
        let client = accept(listener, nil, nil)
        if client >= 0 { closeDescriptor(client) }
        reserveDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
        return client >= 0
    }

    static func clientHash(_ peer: SocketAddress, network: Bool) -> UInt64 {
        if let v4 = peer.ipv4 {
            return ClientHash.ipv4(v4, network: network)
        }
        if let v6 = peer.ipv6 {
            return ClientHash.ipv6(high: v6.high, low: v6.low, network: network)
        }
        return 0
    }
}
