import BasculeConfig
import BasculeEventLoop
import Logging

/// Hot reload (SIGHUP, `bascule ctl reload`): the new file is validated first and applied as a
/// whole or not at all. Services that keep their name and listen address keep their listeners,
/// counters and the health of unchanged backends; new ones start listening; removed ones stop
/// accepting while their open connections run on. Open connections are never touched.
public final class ConfigurationReload: EventHandler {
    /// The configuration in force: the file (the one started with, then the last one
    /// applied) with the runtime API's pool changes laid over it.
    public private(set) var configuration: BasculeConfiguration
    /// The file as last applied, without runtime changes: what a reload compares with.
    public private(set) var fileConfiguration: BasculeConfiguration
    /// Backends added and removed through the admin API since the file was applied.
    var runtime = RuntimePoolChanges()
    /// Follows the file's DNS names (nil until `startResolvingNames`).
    var names: NameResolver?
    /// DNS changes that could not be applied to the pool (logged; the pool stays as it was).
    public internal(set) var nameApplyFailures = 0
    let loop: EventLoop
    var timerID = HandlerID.unregistered
    var removalTimerAt: UInt64 = .max
    /// Runtime changes accepted, by action ("add", "remove"); invalid requests refused.
    public internal(set) var runtimeAdds = 0
    public internal(set) var runtimeRemovals = 0
    public internal(set) var runtimeRemovalsTimedOut = 0
    public internal(set) var runtimeRejections = 0
    /// Runtime changes that reloads undid, and what the last reload undid (one line each).
    public internal(set) var runtimeChangesUndone = 0
    public internal(set) var lastReloadUndid: [String] = []
    /// What this process started with, for the settings a reload cannot change live.
    private let startupConfiguration: BasculeConfiguration
    let registry: BackendRegistry
    private let workers: WorkerMailboxes
    private let processLimits: ProcessLimits
    let log: Logger
    public private(set) var reloadCount = 0
    public private(set) var reloadFailureCount = 0
    /// False from a rejected reload until one is applied (true before any reload).
    public private(set) var lastReloadSucceeded = true
    /// Reloads applied after which what follows the backends (the health checks) could not be
    /// rebuilt; see `onReload`.
    public private(set) var followUpFailureCount = 0
    /// Settings the applied file changes but this process still runs with as it started
    /// (JSON paths); empty when the running process matches the file.
    public private(set) var settingsAwaitingRestart: [String] = []

    /// Reads the configuration again; set by the CLI. Failures are every error.
    public var configurationSource: (() -> Result<BasculeConfiguration, ConfigErrors>)?
    /// Told after a reload has been applied, so health checks can follow the new backends. An
    /// error it throws cannot undo the reload (the workers already route by the new file): it
    /// is logged and counted in `followUpFailureCount`.
    public var onReload: ((BasculeConfiguration) throws -> Void)?
    /// The listening sockets a handover would pass on: services added and removed here.
    var listenerInventory: ListenerInventory?

    init(configuration: BasculeConfiguration, registry: BackendRegistry, workers: WorkerMailboxes,
         processLimits: ProcessLimits, log: Logger) {
        self.configuration = configuration
        fileConfiguration = configuration
        startupConfiguration = configuration
        loop = registry.loop
        self.registry = registry
        self.workers = workers
        self.processLimits = processLimits
        self.log = log
        timerID = registry.loop.register(self)
    }

    @discardableResult
    public func reload() -> Bool {
        reloadConfiguration().isEmpty
    }

    /// Why the reload was rejected (every error), or nothing when it was applied.
    public func reloadConfiguration() -> [String] {
        guard let source = configurationSource else {
            log.warning("reload requested but no configuration source is set")
            return ["no configuration file to reload from"]
        }
        switch source() {
        case .failure(let failure):
            let errors = failure.errors.map(\.description)
            reloadFailureCount += 1
            lastReloadSucceeded = false
            log.error("reload rejected: the new configuration has \(errors.count) error\(errors.count == 1 ? "" : "s"); keeping the running one")
            for error in errors { log.error("reload: \(error)") }
            return errors
        case .success(let next):
            do {
                var reconciled = runtime
                let (undone, cancelled) = reconciled.reconcile(with: next)
                // The backends of the file's DNS names stay through the reload (see reconcile).
                try apply(reconciled.effective(next))
                runtime = reconciled
                fileConfiguration = next
                for (service, backend) in cancelled {
                    if let s = registry.serviceIndex(named: service), let b = registry.backendIndex(service: s, named: backend) {
                        registry.setAdminState(service: s, backend: b, .enabled, reason: "reload: the file keeps it; its removal at runtime was cancelled")
                    }
                }
                noteReconciliation(undone)
                reloadCount += 1
                lastReloadSucceeded = true
            } catch {
                reloadFailureCount += 1
                lastReloadSucceeded = false
                log.error("reload rejected: \(error); keeping the running configuration")
                return ["\(error)"]
            }
            notifyFollowers(configuration)
            followNames(refreshAll: true)
            return []
        }
    }

    func notifyFollowers(_ next: BasculeConfiguration) {
        do {
            try onReload?(next)
        } catch {
            followUpFailureCount += 1
            log.error("reload applied, but health checks could not be rebuilt for the new backends", metadata: [
                "error": "\(error)",
            ])
        }
    }

    func apply(_ next: BasculeConfiguration) throws {
        // Routed addresses own one socket per worker and a route table built at start; a
        // reload may change everything about their services except which services share an
        // address, their routes, and the ClientHello bounds.
        if ServerNameLayout(configuration) != ServerNameLayout(next) {
            throw StartupError(description: "a reload cannot change routing by TLS server name (which services share an address, "
                                   + "serverNames, alpn, acceptNonTLS, acceptProxyProtocol on a shared address, clientHello); apply it with a handover (`bascule upgrade`) or a restart")
        }
        if KernelPlaneLayout(configuration) != KernelPlaneLayout(next) {
            throw StartupError(description: KernelPlaneLayout.reloadRefusal)
        }
        let services = registry.services
        // Bind every new listener before changing anything, so a port in use rejects the
        // reload as a whole.
        var kept: [ServiceEntry?] = []
        var newListeners: [Int: [Int32]] = [:]
        do {
            for (position, service) in next.services.enumerated() {
                let old = services.first { $0.config.name == service.name && $0.config.listen == service.listen }
                kept.append(old)
                if old == nil && service.xdp == nil {
                    newListeners[position] = try ListenerBinding.bind(service, workers: registry.workerCount, log: log)
                }
            }
        } catch {
            newListeners.values.joined().forEach(closeDescriptor)
            throw error
        }

        var entries: [ServiceEntry] = []
        for (position, service) in next.services.enumerated() {
            let entry: ServiceEntry
            do {
                entry = try registry.makeEntry(service, carrying: kept[position])
            } catch {
                newListeners.values.joined().forEach(closeDescriptor)
                throw error
            }
            entries.append(entry)
        }

        let removed = services.filter { old in !entries.contains { $0.id == old.id } }
        for old in removed {
            log.notice("reload: service removed; it stops accepting, open connections continue", metadata: ["service": "\(old.config.name)"])
            listenerInventory?.release(old.config.listen)
            workers.broadcast(.removeService(id: old.id))
        }
        for (position, entry) in entries.enumerated() {
            if let fds = newListeners[position] {
                entry.boundAddress = SocketCalls.localAddress(fds[0])
                listenerInventory?.record(entry.config.listen, fds)
                log.notice("reload: service added", metadata: ["service": "\(entry.config.name)", "listen": "\(entry.config.listen)"])
                for (worker, mailbox) in workers.all.enumerated() {
                    mailbox.post(.addService(WorkerService(table: entry.table, traffic: entry.traffic[worker], listener: fds[worker])))
                }
            } else {
                workers.broadcast(.table(entry.table))
            }
        }
        registry.replaceServices(entries)
        configuration = next
        noteSettingsAwaitingRestart(next)
        processLimits.limit.store(next.maxConnections ?? 0, ordering: .relaxed)
        log.notice("configuration reloaded", metadata: ["services": "\(entries.count)"])
    }

    /// The worker threads, the access-log writer and the admin socket are made once at start;
    /// a reload that changes them applies everything else and says, at warning level and in
    /// `settingsAwaitingRestart`, what still runs as it started. (`admin.token` is applied
    /// live by the admin server's owner through `onReload`.)
    private func noteSettingsAwaitingRestart(_ next: BasculeConfiguration) {
        let started = startupConfiguration
        var pending: [String] = []
        if next.workers != started.workers { pending.append("workers") }
        if next.accessLog != started.accessLog { pending.append("accessLog") }
        if next.admin.listen != started.admin.listen { pending.append("admin.listen") }
        for path in pending where !settingsAwaitingRestart.contains(path) {
            log.warning("reload: `\(path)` changed; it takes effect at the next restart or handover (`bascule upgrade`, see docs/operations.md); the process keeps running as it started")
        }
        settingsAwaitingRestart = pending
    }
}

/// What routing by TLS server name is built from, to tell whether a reload would change it.
struct ServerNameLayout: Equatable {
    struct Member: Equatable {
        let name: String
        let serverNames: [String]
        let alpn: [String]
        let acceptNonTLS: Bool
        let acceptProxyProtocol: Bool
    }

    let addresses: [Endpoint: [Member]]
    let clientHello: ClientHelloSettings

    init(_ configuration: BasculeConfiguration) {
        let routed = Set(configuration.services.filter(\.routesByServerName).map(\.listen))
        var addresses: [Endpoint: [Member]] = [:]
        for service in configuration.services where routed.contains(service.listen) {
            addresses[service.listen, default: []].append(Member(
                name: service.name, serverNames: service.serverNames, alpn: service.alpn,
                acceptNonTLS: service.acceptNonTLS, acceptProxyProtocol: service.acceptProxyProtocol))
        }
        self.addresses = addresses
        clientHello = routed.isEmpty ? ClientHelloSettings() : configuration.clientHello
    }
}
