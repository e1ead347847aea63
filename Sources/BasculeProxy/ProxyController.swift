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

    // MARK: Binary upgrade (UpgradeListener, InheritedListeners)

    /// Where this process stands in a handover, for /status and /metrics.
    public let handover = HandoverStatus()
    /// The upgrade socket to listen on for a successor (`bascule run --upgrade-socket`); nil:
    /// this process cannot be taken over.
    public var upgradeSocketPath: String?
    /// The arguments a successor is started with when `bascule upgrade` asks this process to
    /// start it (the CLI's own, with `--takeover`); nil when not started by `bascule run`.
    public var successorArguments: [String]?
    /// The admin listening socket and its address, offered with the service listeners.
    public var adminListener: (() -> (listen: Endpoint, fd: Int32)?)?
    /// Told when the successor serves: whether it took the admin socket (then this process
    /// must stop answering on it, so monitoring reads the new process's /readyz).
    public var onHandedOver: ((_ adminTaken: Bool) -> Void)?
    /// The sockets received from the process this one takes over, until they are in use.
    private let inherited: InheritedListeners?
    let listenerInventory = ListenerInventory()
    private var upgradeListener: UpgradeListener?
    private var predecessor: PredecessorSession?
    private var handedOverAtMs: UInt64 = 0
    private var drainTimedOut = false

    /// Must be called before any other thread is started: it blocks the shutdown and reload
    /// signals so that only the control loop receives them.
    public init(configuration: BasculeConfiguration, workers: Int, log: Logger, inherited: InheritedListeners? = nil) throws {
        workerCount = max(1, workers)
        self.log = log
        self.inherited = inherited
        accessLog = try configuration.accessLog.map { try AccessLogWriter(path: $0, log: log) }
        loop = try EventLoop()
        startedAtMs = loop.nowMs
        control = try Mailbox()
        registry = try BackendRegistry(services: configuration.services, workerCount: workerCount,
                                       workers: self.workers, loop: loop, log: log)
        reload = ConfigurationReload(configuration: configuration, registry: registry, workers: self.workers,
                                     processLimits: processLimits, log: log)
        reload.listenerInventory = listenerInventory
        if let inherited { handover.receivedSockets(from: inherited.peerPid, version: inherited.peerVersion) }
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
        // Without a takeover the upgrade socket is opened first, so a bad path fails the start
        // before anything listens; a successor takes the path over only once it serves.
        if let path = upgradeSocketPath, inherited == nil {
            do {
                upgradeListener = try UpgradeListener(path: path, controller: self)
                handover.listening(on: path)
            } catch {
                throw StartupError(description: "upgrade socket: cannot listen on \(path): \(error.reason)")
            }
        }
        // Per service, then per worker, that worker's sockets (one, or more after a takeover
        // with fewer workers: `ListenerBinding.sockets`).
        var listeners: [[[Int32]]] = []
        // An address shared by services routing by TLS server name is bound once (per worker)
        // and belongs to no one service: its services get -1 instead of a socket.
        routedAddresses = RoutedAddress.groups(configuration.services, tableID: { self.registry.services[$0].id },
                                               clientHello: configuration.clientHello)
        var routedListeners: [[[Int32]]] = []
        do {
            for routed in routedAddresses {
                let fds = try ListenerBinding.sockets(configuration.services.first { $0.listen == routed.listen }!, workers: workerCount,
                                                      inheriting: inherited?.take(routed.listen) ?? [], log: log)
                routedListeners.append(fds)
                listenerInventory.record(routed.listen, Array(fds.joined()))
            }
            for entry in registry.services {
                // The kernel data plane carries it: no socket here (its address need not be local).
                if entry.config.xdp != nil {
                    listeners.append(Array(repeating: [-1], count: workerCount))
                    continue
                }
                if let position = routedAddresses.firstIndex(where: { $0.listen == entry.config.listen }) {
                    entry.boundAddress = SocketCalls.localAddress(routedListeners[position][0][0])
                    listeners.append(Array(repeating: [-1], count: workerCount))
                    continue
                }
                let fds = try ListenerBinding.sockets(entry.config, workers: workerCount,
                                                      inheriting: inherited?.take(entry.config.listen) ?? [], log: log)
                entry.boundAddress = SocketCalls.localAddress(fds[0][0])
                listeners.append(fds)
                listenerInventory.record(entry.config.listen, Array(fds.joined()))
            }
        } catch {
            (listeners + routedListeners).joined().joined().filter { $0 >= 0 }.forEach(closeDescriptor)
            upgradeListener?.close(drained: nil)
            throw error
        }
        if let inherited { _ = inherited.closeUntaken(log: log) }

        try accessLog?.start()
        for index in 0..<workerCount {
            let mailbox = try Mailbox<WorkerMessage>()
            workers.add(mailbox)
            let initial = zip(registry.services, listeners).map { entry, fds in
                WorkerService(table: entry.table, traffic: entry.traffic[index], listener: fds[index][0],
                              moreListeners: Array(fds[index].dropFirst()))
            }
            let routed = zip(routedAddresses, routedListeners).map { address, fds in
                WorkerRoutedAddress(address: address, listener: fds[index][0], moreListeners: Array(fds[index].dropFirst()))
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
        if let inherited { completeTakeover(inherited) }
        try loop.run()
        for thread in threads { thread.join() }
        accessLog?.stop()
        let drainMs = handedOverAtMs == 0 ? 0 : Int(HandoverStatus.nowMs &- handedOverAtMs)
        if handedOverAtMs != 0 { handover.oldFinished(drainMs: drainMs, timedOut: drainTimedOut) }
        upgradeListener?.close(drained: handedOverAtMs == 0 ? nil : (drainMs, drainTimedOut))
    }

    /// The new process serves: the old one is told so (it stops accepting and drains), and the
    /// upgrade socket's path becomes this process's, for the next upgrade.
    private func completeTakeover(_ inherited: InheritedListeners) {
        let adminTaken = inherited.adminWasTaken
        guard let session = PredecessorSession(inherited, adminTaken: adminTaken, status: handover, loop: loop, log: log) else {
            handover.failed("the old process gave up on the handover before this one served")
            log.error("takeover: the old process is gone or gave up before this one served; stopping so that only one of them serves")
            beginDrain()
            return
        }
        predecessor = session
        handover.serving(startedAtMs: inherited.startedAtMs)
        log.notice("takeover: serving; the old process stops accepting and drains", metadata: [
            "oldPid": "\(inherited.peerPid)", "takeoverMs": "\(handover.takeoverMs ?? 0)", "adminTaken": "\(adminTaken)",
        ])
        guard let path = upgradeSocketPath else { return }
        do {
            upgradeListener = try UpgradeListener(path: path, controller: self)
            handover.listening(on: path)
        } catch {
            log.error("takeover: serving, but cannot listen on the upgrade socket: the next upgrade must restart",
                      metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// What a successor receives: every listening socket in use, by address, and the admin one.
    func handoverInventory() -> HandoverInventory {
        HandoverInventory(admin: adminListener?(), groups: listenerInventory.groups)
    }

    /// The successor serves on the same sockets: stop accepting at once (no grace period: the
    /// address does not move, the new process already accepts on it) and drain.
    func handedOver(adminTaken: Bool) {
        onHandedOver?(adminTaken)
        guard !draining else { return }
        draining = true
        handedOverAtMs = HandoverStatus.nowMs
        stopAccepting()
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
        if handedOverAtMs != 0 { return "handed over to the successor (pid \(handover.peerPid ?? 0)); draining" }
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
            drainTimedOut = true
            closeEverything()
        } else if drainDeadline != .max {
            loop.schedule(id, atMs: drainDeadline)
        }
    }
}
