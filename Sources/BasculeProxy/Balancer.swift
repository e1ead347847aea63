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
/// state, shutdown) on the thread that calls `run()`.
public final class Balancer: EventHandler {
    private let configuration: BasculeConfiguration
    private let workerCount: Int
    private let log: Logger
    private let loop: EventLoop
    private let control: Mailbox<ControlMessage>
    private var controlReceiver: MailboxReceiver<ControlMessage>?
    private var signals: SignalSource?
    private var id = HandlerID.unregistered
    private var tables: [ServiceTable] = []
    private var states: [[BackendState]] = []
    private var workerMailboxes: [Mailbox<WorkerMessage>] = []
    /// [worker][service], summed when status is asked for.
    private var traffic: [[TrafficStats]] = []
    private var threads: [WorkerThread] = []
    private var idleWorkers = Set<Int>()
    private var stoppedWorkers = 0
    private var draining = false
    private var drainDeadline: UInt64 = .max
    private var rampTimerAt: UInt64 = .max
    /// Bound addresses per service, for callers that asked for port 0 (tests).
    public private(set) var boundAddresses: [String: SocketAddress] = [:]
    /// Called once every listener is bound and every worker started.
    public var onReady: (() -> Void)?

    /// Binds every listener up front, so a port already in use is reported before anything
    /// runs. Must be called before any other thread is started: it blocks the shutdown and
    /// reload signals so that only the control loop receives them.
    public init(configuration: BasculeConfiguration, workers: Int, log: Logger) throws {
        self.configuration = configuration
        workerCount = max(1, workers)
        self.log = log
        loop = try EventLoop()
        control = try Mailbox()
        id = loop.register(self)
        signal(SIGPIPE, SIG_IGN)
        signals = try SignalSource(signals: [SIGTERM, SIGINT, SIGHUP, SIGUSR1], on: loop) { [unowned self] signal in
            self.handleSignal(signal)
        }
        controlReceiver = try MailboxReceiver(control, on: loop) { [unowned self] message in
            self.receive(message)
        }
        states = configuration.services.map { service in
            service.backends.map { BackendState(weight: $0.weight, lastChangeAtMs: loop.nowMs) }
        }
        tables = try configuration.services.enumerated().map { index, service in
            try Self.makeTable(index: index, service: service, counters: service.backends.map { _ in BackendCounters(workers: workerCount) },
                               states: states[index], nowMs: loop.nowMs)
        }
    }

    static func makeTable(index: Int, service: ServiceConfig, counters: [BackendCounters],
                          states: [BackendState], nowMs: UInt64) throws -> ServiceTable {
        let targets = try service.backends.map { backend in
            BackendTarget(name: backend.name, endpoint: backend.address,
                          address: try SocketAddress(backend.address), isBackup: backend.backup)
        }
        let candidates = service.backends.enumerated().map { index, backend in
            (entry: BackendEntry(index: index, name: backend.name, address: backend.address.description,
                                 weight: effectiveWeight(states[index], slowStartMs: service.slowStartMs, nowMs: nowMs)),
             isBackup: backend.backup, isAvailable: states[index].isEligible)
        }
        let eligible = BackendSelection.eligible(candidates)
        guard let strategy = StrategyRegistry.make(named: service.strategy, backends: eligible, options: StrategyOptions()) else {
            throw StartupError(description: "service \(service.name): unknown strategy \"\(service.strategy)\"")
        }
        return ServiceTable(index: index, config: service, backends: targets, counters: counters,
                            eligible: eligible.map(\.index), strategy: strategy)
    }

    static func effectiveWeight(_ state: BackendState, slowStartMs: Int, nowMs: UInt64) -> Int {
        guard slowStartMs > 0, state.eligibleSinceMs > 0 else { return state.weight }
        let elapsed = nowMs >= state.eligibleSinceMs ? Int(nowMs - state.eligibleSinceMs) : 0
        return SlowStart.effectiveWeight(configured: state.weight, elapsedMs: elapsed, slowStartMs: slowStartMs)
    }

    /// The loop health checks and the admin server run on (this thread's).
    public var controlLoop: EventLoop { loop }

    // MARK: Backend state (control thread only)

    /// Health checks report here; a change rebuilds the service's table for the workers.
    public func setHealth(service: Int, backend: Int, healthy: Bool, reason: String) {
        guard states.indices.contains(service), states[service].indices.contains(backend),
              states[service][backend].healthy != healthy else { return }
        states[service][backend].healthy = healthy
        noteChange(service: service, backend: backend, reason: reason)
    }

    /// The runtime API: drain, disable, enable.
    public func setAdminState(service: Int, backend: Int, _ admin: AdminState, reason: String) {
        guard states.indices.contains(service), states[service].indices.contains(backend),
              states[service][backend].admin != admin else { return }
        states[service][backend].admin = admin
        noteChange(service: service, backend: backend, reason: reason)
    }

    public func setWeight(service: Int, backend: Int, weight: Int, reason: String) {
        guard states.indices.contains(service), states[service].indices.contains(backend), weight >= 1 else { return }
        states[service][backend].weight = weight
        noteChange(service: service, backend: backend, reason: reason)
    }

    public func serviceIndex(named name: String) -> Int? {
        configuration.services.firstIndex { $0.name == name }
    }

    public func backendIndex(service: Int, named name: String) -> Int? {
        configuration.services[service].backends.firstIndex { $0.name == name }
    }

    private func noteChange(service: Int, backend: Int, reason: String) {
        let wasEligible = tables[service].eligible.contains(backend)
        states[service][backend].lastChangeReason = reason
        states[service][backend].lastChangeAtMs = loop.nowMs
        if states[service][backend].isEligible && !wasEligible {
            states[service][backend].eligibleSinceMs = max(1, loop.nowMs)
        }
        let name = configuration.services[service].backends[backend].name
        log.notice("backend state changed", metadata: [
            "service": "\(configuration.services[service].name)", "backend": "\(name)",
            "state": "\(stateName(states[service][backend]))", "reason": "\(reason)",
        ])
        publish(service: service)
    }

    /// Consecutive connect failures on real traffic take a backend out at once, without
    /// waiting for the next active check. Only where an active check exists: it is what brings
    /// the backend back.
    private func passiveCheck(service: Int, backend: Int, errno code: Int32) {
        let config = configuration.services[service]
        guard config.healthCheck.type != .none, states[service][backend].healthy else { return }
        let failures = tables[service].counters[backend].consecutiveFailures.load(ordering: .relaxed)
        guard failures >= config.healthCheck.fall else { return }
        let reason = code == ETIMEDOUT ? "connect timeout" : SystemError(errno: code, call: "connect").reason.lowercased()
        setHealth(service: service, backend: backend, healthy: false,
                  reason: "passive: \(failures) consecutive connect failures on client traffic (\(reason))")
    }

    private func scheduleRampIfNeeded() {
        let ramping = configuration.services.enumerated().contains { index, service in
            service.slowStartMs > 0 && states[index].contains {
                $0.isEligible && $0.eligibleSinceMs > 0 && loop.nowMs < $0.eligibleSinceMs + UInt64(service.slowStartMs)
            }
        }
        if ramping && rampTimerAt == .max {
            rampTimerAt = loop.nowMs + 100
            loop.schedule(id, atMs: rampTimerAt)
        }
    }

    /// Republishes the tables of services whose backends are still ramping up.
    private func advanceRamps(nowMs: UInt64) {
        rampTimerAt = .max
        for (index, service) in configuration.services.enumerated() where service.slowStartMs > 0 {
            let ramping = states[index].contains {
                $0.isEligible && $0.eligibleSinceMs > 0 && nowMs < $0.eligibleSinceMs + UInt64(service.slowStartMs) + 100
            }
            if ramping { publish(service: index) }
        }
        scheduleRampIfNeeded()
    }

    private func publish(service: Int) {
        let old = tables[service]
        guard let table = try? Self.makeTable(index: service, service: old.config, counters: old.counters,
                                              states: states[service], nowMs: loop.nowMs) else { return }
        tables[service] = table
        for mailbox in workerMailboxes { mailbox.post(.table(table)) }
        scheduleRampIfNeeded()
    }

    private func stateName(_ state: BackendState) -> String {
        switch state.admin {
        case .draining: return "draining"
        case .disabled: return "disabled"
        case .enabled: return state.healthy ? "up" : "down"
        }
    }

    /// A snapshot for the admin endpoints.
    public func status() -> [ServiceStatus] {
        configuration.services.enumerated().map { serviceIndex, service in
            let table = tables[serviceIndex]
            let backends = service.backends.enumerated().map { index, backend in
                let state = states[serviceIndex][index]
                let counters = table.counters[index]
                return BackendStatus(
                    name: backend.name, address: backend.address.description, backup: backend.backup,
                    healthy: state.healthy, admin: state.admin, weight: state.weight,
                    effectiveWeight: Self.effectiveWeight(state, slowStartMs: service.slowStartMs, nowMs: loop.nowMs),
                    state: stateName(state),
                    activeConnections: counters.active.load(ordering: .relaxed),
                    totalConnections: counters.total.load(ordering: .relaxed),
                    connectFailures: counters.connectFailures.load(ordering: .relaxed),
                    bytesIn: counters.totalBytesIn,
                    bytesOut: counters.totalBytesOut,
                    lastChangeReason: state.lastChangeReason,
                    secondsSinceLastChange: Double(loop.nowMs &- state.lastChangeAtMs) / 1000)
            }
            return ServiceStatus(name: service.name, listen: boundAddresses[service.name].map { "\($0)" } ?? service.listen.description,
                                 strategy: service.strategy,
                                 connectionsAccepted: traffic.reduce(0) { $0 + $1[serviceIndex].accepted.load(ordering: .relaxed) },
                                 connectionsFailed: traffic.reduce(0) { $0 + $1[serviceIndex].failed.load(ordering: .relaxed) },
                                 backends: backends)
        }
    }

    /// Starts the workers and runs the control loop until shutdown completes.
    public func run() throws {
        var listenersPerWorker: [[Int32]] = Array(repeating: [], count: workerCount)
        do {
            for service in configuration.services {
                let address = try SocketAddress(service.listen)
                for worker in 0..<workerCount {
                    do {
                        listenersPerWorker[worker].append(try SocketCalls.listener(on: address))
                    } catch {
                        throw StartupError(description: "service \(service.name): cannot listen on \(service.listen): \(error.reason)")
                    }
                }
                boundAddresses[service.name] = SocketCalls.localAddress(listenersPerWorker[0].last!)
            }
        } catch {
            for fds in listenersPerWorker { fds.forEach(closeDescriptor) }
            throw error
        }

        traffic = (0..<workerCount).map { _ in
            configuration.services.map { _ in TrafficStats() }
        }
        for index in 0..<workerCount {
            let mailbox = try Mailbox<WorkerMessage>()
            let traffic = self.traffic[index]
            workerMailboxes.append(mailbox)
            let tables = self.tables
            let listeners = listenersPerWorker[index]
            let control = self.control
            let log = self.log
            threads.append(WorkerThread(name: "bascule-w\(index)") {
                do {
                    let worker = try Worker(index: index, tables: tables, traffic: traffic, listeners: listeners,
                                            mailbox: mailbox, control: control, log: log)
                    worker.run()
                } catch {
                    log.critical("worker failed to start", metadata: ["worker": "\(index)", "error": "\(error)"])
                    control.post(.workerStopped(worker: index))
                }
            })
        }
        for service in configuration.services {
            log.info("serving", metadata: [
                "service": "\(service.name)", "listen": "\(boundAddresses[service.name].map { "\($0)" } ?? "?")",
                "strategy": "\(service.strategy)", "backends": "\(service.backends.count)", "workers": "\(workerCount)",
            ])
        }
        onReady?()
        try loop.run()
        for thread in threads { thread.join() }
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
            log.notice("SIGHUP received: configuration reload is not implemented yet; keeping the running configuration")
        case SIGUSR1:
            log.info("SIGUSR1 received: logs go to standard error, nothing to reopen")
        default:
            break
        }
    }

    private func beginDrain() {
        draining = true
        let timeout = configuration.services.map(\.drainTimeoutMs).max() ?? configuration.defaults.drainTimeoutMs
        log.notice("draining: no new connections; waiting for open ones", metadata: ["timeoutMs": "\(timeout)"])
        drainDeadline = loop.nowMs + UInt64(timeout)
        loop.schedule(id, atMs: drainDeadline)
        for mailbox in workerMailboxes { mailbox.post(.stopAccepting) }
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
            for (service, table) in tables.enumerated() {
                if let backend = table.counters.firstIndex(where: { $0 === counters }) {
                    passiveCheck(service: service, backend: backend, errno: code)
                }
            }
        }
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    public func handleTimer(nowMs: UInt64) {
        if rampTimerAt != .max && nowMs >= rampTimerAt { advanceRamps(nowMs: nowMs) }
        guard draining else { return }
        if nowMs >= drainDeadline {
            log.notice("drain timeout reached: closing the remaining connections")
            drainDeadline = .max
            closeEverything()
        } else if drainDeadline != .max {
            loop.schedule(id, atMs: drainDeadline)
        }
    }
}
