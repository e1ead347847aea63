import BasculeConfig
import BasculeEventLoop
import Glibc
import Logging

/// The running proxy as a process: worker threads relaying connections, and the control loop
/// on the thread that calls `run()` — signals, shutdown drain, node drain, readiness. Backend
/// state is the `registry`'s concern, configuration changes the `reload`'s.
public final class ProxyController: EventHandler {
    let workerCount: Int
    public var workerCountForMetrics: Int { workerCount }
    let log: Logger
    let loop: EventLoop
    private let control: Mailbox<ControlMessage>
    private var controlReceiver: MailboxReceiver<ControlMessage>?
    private var signals: SignalSource?
    private var id = HandlerID.unregistered
    private let workers = WorkerMailboxes()
    private var threads: [WorkerThread] = []
    private var idleWorkers = Set<Int>()
    private var stoppedWorkers = 0
    public private(set) var draining = false
    private var drainDeadline: UInt64 = .max
    private var graceEndsAt: UInt64 = .max
    public private(set) var nodeDrained = false
    let startedAtMs: UInt64
    private let processLimits = ProcessLimits()
    /// nil when the configuration has no `accessLog`.
    public let accessLog: AccessLogWriter?
    /// Every service and backend, their state and the tables the workers route with.
    public let registry: BackendRegistry
    /// The configuration in force, and SIGHUP / `bascule ctl reload`.
    public let reload: ConfigurationReload

    /// Called once every listener is bound and every worker started.
    public var onReady: (() -> Void)?
    /// Told when a drain begins (SIGTERM), so readiness can turn false before listeners close.
    public var onDrain: (() -> Void)?
    /// Addresses shared by services that route by TLS server name; fixed at start (a reload
    /// that would change them is rejected).
    var routedAddresses: [RoutedAddress] = []
    /// Per route of each such address, for metrics and status.
    public var routeCounters: [RouteCounters] { routedAddresses.map(\.counters) }

    /// Must be called before any other thread is started: it blocks the shutdown and reload
    /// signals so that only the control loop receives them.
    public init(configuration: BasculeConfiguration, workers: Int, log: Logger) throws {
        workerCount = max(1, workers)
        self.log = log
        accessLog = try configuration.accessLog.map { try AccessLogWriter(path: $0, log: log) }
        loop = try EventLoop()
        startedAtMs = loop.nowMs
        control = try Mailbox()
        registry = try BackendRegistry(services: configuration.services, workerCount: workerCount,
                                       workers: self.workers, loop: loop, log: log)
        reload = ConfigurationReload(configuration: configuration, registry: registry, workers: self.workers,
                                     processLimits: processLimits, log: log)
        id = loop.register(self)
        signals = try SignalSource(signals: [SIGTERM, SIGINT, SIGHUP, SIGUSR1], on: loop) { [unowned self] signal in
            self.handleSignal(signal)
        }
        controlReceiver = try MailboxReceiver(control, on: loop) { [unowned self] message in
            self.receive(message)
        }
        processLimits.limit.store(configuration.maxConnections ?? 0, ordering: .relaxed)
    }

    /// The configuration in force (the last one applied).
    public var configuration: BasculeConfiguration { reload.configuration }

    /// The loop health checks and the admin server run on (this thread's).
    public var controlLoop: EventLoop { loop }

    public var uptimeSeconds: Double { Double(loop.nowMs &- startedAtMs) / 1000 }

    /// Bound address per service name (the real port when the config said 0).
    public var boundAddresses: [String: SocketAddress] {
        var result: [String: SocketAddress] = [:]
        for entry in registry.services { result[entry.config.name] = entry.boundAddress }
        return result
    }

    /// Starts the workers and runs the control loop until shutdown completes.
    public func run() throws {
        var listeners: [[Int32]] = []
        // An address shared by services routing by TLS server name is bound once (per worker)
        // and belongs to no one service: its services get -1 instead of a socket.
        routedAddresses = RoutedAddress.groups(configuration.services, tableID: { self.registry.services[$0].id },
                                               clientHello: configuration.clientHello)
        var routedListeners: [[Int32]] = []
        do {
            for routed in routedAddresses {
                let fds = try ListenerBinding.bind(configuration.services.first { $0.listen == routed.listen }!,
                                                   workers: workerCount, log: log)
                routedListeners.append(fds)
            }
            for entry in registry.services {
                if let position = routedAddresses.firstIndex(where: { $0.listen == entry.config.listen }) {
                    entry.boundAddress = SocketCalls.localAddress(routedListeners[position][0])
                    listeners.append(Array(repeating: -1, count: workerCount))
                    continue
                }
                let fds = try ListenerBinding.bind(entry.config, workers: workerCount, log: log)
                entry.boundAddress = SocketCalls.localAddress(fds[0])
                listeners.append(fds)
            }
        } catch {
            (listeners + routedListeners).joined().filter { $0 >= 0 }.forEach(closeDescriptor)
            throw error
        }

        try accessLog?.start()
        for index in 0..<workerCount {
            let mailbox = try Mailbox<WorkerMessage>()
            workers.add(mailbox)
            let initial = zip(registry.services, listeners).map { entry, fds in
                WorkerService(table: entry.table, traffic: entry.traffic[index], listener: fds[index])
            }
            let routed = zip(routedAddresses, routedListeners).map { address, fds in
                WorkerRoutedAddress(address: address, listener: fds[index])
            }
            let control = self.control
            let log = self.log
            let processLimits = self.processLimits
            let accessLog = self.accessLog
            threads.append(WorkerThread(name: "bascule-w\(index)") {
                do {
                    let worker = try Worker(index: index, services: initial, routed: routed, mailbox: mailbox, control: control,
                                            processLimits: processLimits, accessLog: accessLog, log: log)
                    worker.run()
                } catch {
                    log.critical("worker failed to start", metadata: ["worker": "\(index)", "error": "\(error)"])
                    control.post(.workerStopped(worker: index))
                }
            })
        }
        for entry in registry.services {
            log.info("serving", metadata: [
                "service": "\(entry.config.name)", "listen": "\(entry.boundAddress.map { "\($0)" } ?? "?")",
                "strategy": "\(entry.config.strategy)", "backends": "\(entry.config.backends.count)", "workers": "\(workerCount)",
            ])
        }
        onReady?()
        try loop.run()
        for thread in threads { thread.join() }
        accessLog?.stop()
    }

    /// Asks for a graceful shutdown from another thread (tests, the demo).
    public func requestShutdown() {
        kill(getpid(), SIGTERM)
    }

    // MARK: Signals

    private func handleSignal(_ signal: Int32) {
        switch signal {
        case SIGTERM, SIGINT:
            if draining {
                if signal == SIGINT {
                    log.notice("second interrupt: closing every connection now")
                    closeEverything()
                }
                return
            }
            beginDrain()
        case SIGHUP:
            reload.reload()
        case SIGUSR1:
            if let accessLog {
                log.notice("SIGUSR1: reopening the access log", metadata: ["path": "\(accessLog.path)"])
                accessLog.reopen()
            } else {
                log.info("SIGUSR1 received: no access log configured, nothing to reopen")
            }
        default:
            break
        }
    }

    // MARK: Drain and readiness

    /// Shutdown: readiness turns false at once; after `drainGraceMs` (0: at once) listeners
    /// close and open connections get up to the longest drainTimeoutMs to finish.
    public func beginDrain() {
        guard !draining else { return }
        draining = true
        onDrain?()
        let grace = configuration.drainGraceMs
        guard grace > 0 else { return stopAccepting() }
        log.notice("shutdown: /readyz reports not ready; still accepting during the grace period so the address can move first",
                   metadata: ["drainGraceMs": "\(grace)"])
        graceEndsAt = loop.nowMs + UInt64(grace)
        loop.schedule(id, atMs: graceEndsAt)
    }

    private func stopAccepting() {
        graceEndsAt = .max
        let timeout = configuration.services.map(\.drainTimeoutMs).max() ?? configuration.defaults.drainTimeoutMs
        log.notice("draining: no new connections; waiting for open ones", metadata: ["timeoutMs": "\(timeout)"])
        drainDeadline = loop.nowMs + UInt64(timeout)
        loop.schedule(id, atMs: drainDeadline)
        workers.broadcast(.stopAccepting)
    }

    /// Why this node should not be sent new clients, or nil. Backend health is the admin
    /// server's concern; this is the node's own state.
    public var nodeUnreadyReason: String? {
        if draining { return "draining for shutdown" }
        if nodeDrained { return "node drained by operator" }
        return nil
    }

    /// Maintenance drain of the whole node: only readiness changes, so keepalived or the BGP
    /// speaker moves the address away while everything already here, and anything that still
    /// arrives, is served as usual.
    public func setNodeDrained(_ drained: Bool, reason: String) {
        guard drained != nodeDrained else { return }
        nodeDrained = drained
        log.notice(drained ? "node drained: /readyz reports not ready; still serving" : "node resumed: /readyz follows backend health again",
                   metadata: ["reason": "\(reason)"])
    }

    private func closeEverything() {
        workers.broadcast(.closeAll)
    }

    // MARK: Control loop

    private func receive(_ message: ControlMessage) {
        switch message {
        case .workerIdle(let worker):
            idleWorkers.insert(worker)
            if draining && idleWorkers.count == workerCount {
                log.notice("drained: every connection finished")
                closeEverything()
            }
        case .workerStopped:
            stoppedWorkers += 1
            if stoppedWorkers == workerCount { loop.stop() }
        case .connectFailed(let counters, let code):
            registry.connectFailed(counters: counters, errno: code)
        }
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    public func handleTimer(nowMs: UInt64) {
        guard draining else { return }
        if graceEndsAt != .max {
            if nowMs >= graceEndsAt { stopAccepting() } else { loop.schedule(id, atMs: graceEndsAt) }
            return
        }
        if nowMs >= drainDeadline {
            log.notice("drain timeout reached: closing the remaining connections")
            drainDeadline = .max
            closeEverything()
        } else if drainDeadline != .max {
            loop.schedule(id, atMs: drainDeadline)
        }
    }
}
