import BasculeBalancing
import BasculeConfig
import BasculeEventLoop
import Glibc
import Logging

/// Why the balancer could not start, naming the service and address at fault.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}

/// The running balancer: worker threads relaying connections, and the control loop (signals,
/// backend state, reload, shutdown) on the thread that calls `run()`.
public final class Balancer: EventHandler {
    public internal(set) var configuration: BasculeConfiguration
    let workerCount: Int
    public var workerCountForMetrics: Int { workerCount }
    let log: Logger
    let loop: EventLoop
    private let control: Mailbox<ControlMessage>
    private var controlReceiver: MailboxReceiver<ControlMessage>?
    private var signals: SignalSource?
    var id = HandlerID.unregistered
    /// In configuration order; positions are what the admin API and health checks address.
    var services: [ServiceEntry] = []
    var nextServiceID = 0
    var workerMailboxes: [Mailbox<WorkerMessage>] = []
    private var threads: [WorkerThread] = []
    private var idleWorkers = Set<Int>()
    private var stoppedWorkers = 0
    public private(set) var draining = false
    private var drainDeadline: UInt64 = .max
    private var graceEndsAt: UInt64 = .max
    public private(set) var nodeDrained = false
    var rampTimerAt: UInt64 = .max
    let startedAtMs: UInt64
    let processLimits = ProcessLimits()
    /// nil when the configuration has no `accessLog`.
    public let accessLog: AccessLogWriter?
    public internal(set) var reloadCount = 0
    public internal(set) var reloadFailureCount = 0
    /// False from a rejected reload until one is applied (true before any reload).
    public internal(set) var lastReloadSucceeded = true
    /// What this process started with, for the settings a reload cannot change live.
    let startupConfiguration: BasculeConfiguration
    /// Settings the applied file changes but this process still runs with as it started
    /// (JSON paths); empty when the running process matches the file.
    public internal(set) var settingsAwaitingRestart: [String] = []

    /// Called once every listener is bound and every worker started.
    public var onReady: (() -> Void)?
    /// Reads the configuration again for SIGHUP; set by the CLI. Failures are every error.
    public var configurationSource: (() -> Result<BasculeConfiguration, ConfigErrors>)?
    /// Told after a reload has been applied, so health checks can follow the new backends.
    public var onReload: ((BasculeConfiguration) -> Void)?
    /// Told when a drain begins (SIGTERM), so readiness can turn false before listeners close.
    public var onDrain: (() -> Void)?
    /// Told when client traffic (not an active check) took a backend down, so the active
    /// checker knows it must see `rise` good checks before the backend returns.
    public var onPassiveDown: ((_ service: Int, _ backend: Int) -> Void)?

    /// Must be called before any other thread is started: it blocks the shutdown and reload
    /// signals so that only the control loop receives them.
    public init(configuration: BasculeConfiguration, workers: Int, log: Logger) throws {
        self.configuration = configuration
        startupConfiguration = configuration
        workerCount = max(1, workers)
        self.log = log
        accessLog = try configuration.accessLog.map { try AccessLogWriter(path: $0, log: log) }
        loop = try EventLoop()
        startedAtMs = loop.nowMs
        control = try Mailbox()
        id = loop.register(self)
        signal(SIGPIPE, SIG_IGN)
        signals = try SignalSource(signals: [SIGTERM, SIGINT, SIGHUP, SIGUSR1], on: loop) { [unowned self] signal in
            self.handleSignal(signal)
        }
        controlReceiver = try MailboxReceiver(control, on: loop) { [unowned self] message in
            self.receive(message)
        }
        services = try configuration.services.map { try makeEntry($0, carrying: nil) }
        processLimits.limit.store(configuration.maxConnections ?? 0, ordering: .relaxed)
    }

    /// The loop health checks and the admin server run on (this thread's).
    public var controlLoop: EventLoop { loop }

    public var uptimeSeconds: Double { Double(loop.nowMs &- startedAtMs) / 1000 }

    /// Bound address per service name (the real port when the config said 0).
    public var boundAddresses: [String: SocketAddress] {
        var result: [String: SocketAddress] = [:]
        for entry in services { result[entry.config.name] = entry.boundAddress }
        return result
    }

    /// One listening socket per worker, all bound before any is used, so a port in use fails
    /// the start (or the reload) as a whole with the service and address named.
    func bindListeners(for service: ServiceConfig) throws -> [Int32] {
        let address = try SocketAddress(service.listen)
        var fds: [Int32] = []
        do {
            for _ in 0..<workerCount {
                fds.append(try SocketCalls.listener(on: address))
            }
        } catch {
            fds.forEach(closeDescriptor)
            throw StartupError(description: "service \(service.name): cannot listen on \(service.listen): \(error.reason)")
        }
        if !SocketCalls.isHeldLocally(address) {
            log.notice("listening on an address this host does not hold yet (FREEBIND): clients arrive once it is assigned here, as keepalived or BGP would",
                       metadata: ["service": "\(service.name)", "listen": "\(service.listen)"])
        }
        return fds
    }

    /// Starts the workers and runs the control loop until shutdown completes.
    public func run() throws {
        var listeners: [[Int32]] = []
        do {
            for entry in services {
                let fds = try bindListeners(for: entry.config)
                entry.boundAddress = SocketCalls.localAddress(fds[0])
                listeners.append(fds)
            }
        } catch {
            listeners.joined().forEach(closeDescriptor)
            throw error
        }

        try accessLog?.start()
        for index in 0..<workerCount {
            let mailbox = try Mailbox<WorkerMessage>()
            workerMailboxes.append(mailbox)
            let initial = zip(services, listeners).map { entry, fds in
                WorkerService(table: entry.table, traffic: entry.traffic[index], listener: fds[index])
            }
            let control = self.control
            let log = self.log
            let processLimits = self.processLimits
            let accessLog = self.accessLog
            threads.append(WorkerThread(name: "bascule-w\(index)") {
                do {
                    let worker = try Worker(index: index, services: initial, mailbox: mailbox, control: control,
                                            processLimits: processLimits, accessLog: accessLog, log: log)
                    worker.run()
                } catch {
                    log.critical("worker failed to start", metadata: ["worker": "\(index)", "error": "\(error)"])
                    control.post(.workerStopped(worker: index))
                }
            })
        }
        for entry in services {
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

    // MARK: Control loop

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
            reload()
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
        for mailbox in workerMailboxes { mailbox.post(.stopAccepting) }
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
        for mailbox in workerMailboxes { mailbox.post(.closeAll) }
    }

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
            for (position, entry) in services.enumerated() {
                if let backend = entry.counters.firstIndex(where: { $0 === counters }) {
                    passiveCheck(service: position, backend: backend, errno: code)
                }
            }
        }
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    public func handleTimer(nowMs: UInt64) {
        if rampTimerAt != .max && nowMs >= rampTimerAt { advanceRamps(nowMs: nowMs) }
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
