import BasculeConfig
import BasculeEventLoop
import Logging

/// Why the admin API could not add or remove a backend.
public enum RuntimeChangeRefusal: Error, Equatable, CustomStringConvertible {
    case noSuchService(String)
    case noSuchBackend(service: String, backend: String)
    /// The posted backend breaks a rule of the file (every error, located from `$`).
    case invalid([ConfigError])
    /// The change contradicts the pool as it is (already being removed, last backend).
    case conflict(String)
    /// Valid, but the running process could not apply it.
    case failed(String)

    public var description: String {
        switch self {
        case .noSuchService(let name): return "no service named \"\(name)\""
        case .noSuchBackend(let service, let backend): return "service \"\(service)\" has no backend named \"\(backend)\""
        case .invalid(let errors): return errors.map(\.description).joined(separator: "\n")
        case .conflict(let message), .failed(let message): return message
        }
    }
}

/// Backends added and removed at runtime (`POST /services/{s}/backends`,
/// `DELETE /services/{s}/backends/{b}`). A change is applied the way a reload applies a file —
/// the new pool is the file with the runtime changes laid over it — so the tables, the health
/// checks and the state carried across (health, counters) follow exactly as they do on SIGHUP.
extension ConfigurationReload {
    /// How often a removal looks whether its backend's connections have ended.
    static let removalPollMs: UInt64 = 100

    /// Validates `json` with the file's rules for a backend and adds it to the service.
    public func addBackend(service name: String, json: [UInt8], reason: String) throws(RuntimeChangeRefusal) -> BackendConfig {
        guard let service = configuration.services.first(where: { $0.name == name }) else {
            throw .noSuchService(name)
        }
        let backend: BackendConfig
        switch RuntimeBackendValidation.backend(json: json, service: service, takenNames: service.backends.map(\.name)) {
        case .success(let valid): backend = valid
        case .failure(let failure):
            runtimeRejections += 1
            throw .invalid(failure.errors)
        }
        var next = runtime
        next.add(backend, service: name)
        try applyRuntime(next)
        runtimeAdds += 1
        log.notice("runtime: backend added (not written to the file; a reload or restart undoes it)", metadata: [
            "service": "\(name)", "backend": "\(backend.name)", "address": "\(backend.address)", "reason": "\(reason)",
        ])
        return backend
    }

    /// Drains the backend at once, then removes it when its connections have ended or the
    /// service's `drainTimeoutMs` has passed, whichever comes first. Connections still open at
    /// the deadline are not cut: they end on their own, as after a reload that removes a backend.
    /// Answers the drain deadline in milliseconds from now.
    public func removeBackend(service name: String, backend: String, reason: String) throws(RuntimeChangeRefusal) -> Int {
        guard let serviceIndex = registry.serviceIndex(named: name), let service = configuration.services.first(where: { $0.name == name }) else {
            throw .noSuchService(name)
        }
        guard let backendIndex = registry.backendIndex(service: serviceIndex, named: backend) else {
            throw .noSuchBackend(service: name, backend: backend)
        }
        guard !runtime.isRemoving(service: name, backend: backend) else {
            throw .conflict("\(name)/\(backend) is already being removed")
        }
        // The pool after every pending removal must still pass the file's rule.
        let remaining = service.backends.filter { $0.name != backend && !runtime.isRemoving(service: name, backend: $0.name) }
        guard remaining.contains(where: { !$0.backup }) else {
            runtimeRejections += 1
            throw .conflict("removing \(name)/\(backend) would leave the service without a backend that is not a backup")
        }
        let timeout = service.drainTimeoutMs
        runtime.beginRemoval(RuntimePoolChanges.Removal(service: name, backend: backend,
                                                        deadlineMs: loop.nowMs + UInt64(timeout), reason: reason))
        runtimeRemovals += 1
        registry.setAdminState(service: serviceIndex, backend: backendIndex, .draining,
                               reason: "\(reason): draining before removal")
        log.notice("runtime: backend draining before removal (not written to the file)", metadata: [
            "service": "\(name)", "backend": "\(backend)", "drainTimeoutMs": "\(timeout)", "reason": "\(reason)",
        ])
        scheduleRemovalCheck()
        return timeout
    }

    /// Runs the file with `next` laid over it; on failure nothing changes.
    func applyRuntime(_ next: RuntimePoolChanges) throws(RuntimeChangeRefusal) {
        let effective = next.effective(fileConfiguration)
        do {
            try apply(effective)
        } catch {
            throw .failed("\(error)")
        }
        runtime = next
        notifyFollowers(effective)
    }

    func noteReconciliation(_ undone: [String]) {
        lastReloadUndid = undone
        runtimeChangesUndone += undone.count
        guard !undone.isEmpty else { return }
        let summary = "reload: the file wins; undid \(undone.count) runtime change\(undone.count == 1 ? "" : "s"): "
            + undone.joined(separator: "; ")
        log.warning("\(summary)")
    }

    func scheduleRemovalCheck() {
        guard removalTimerAt == .max else { return }
        removalTimerAt = loop.nowMs + Self.removalPollMs
        loop.schedule(timerID, atMs: removalTimerAt)
    }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {}

    public func handleTimer(nowMs: UInt64) {
        guard removalTimerAt != .max else { return }
        guard nowMs >= removalTimerAt else { return loop.schedule(timerID, atMs: removalTimerAt) }
        removalTimerAt = .max
        for removal in runtime.removals {
            // A backend already gone from the pool (removed by an operator while its address
            // also left the DNS answer) has nothing left to drain.
            var open = 0
            if let s = registry.serviceIndex(named: removal.service), let b = registry.backendIndex(service: s, named: removal.backend) {
                open = registry.services[s].counters[b].active.load(ordering: .relaxed)
            }
            guard open == 0 || nowMs >= removal.deadlineMs else { continue }
            var next = runtime
            next.completeRemoval(service: removal.service, backend: removal.backend)
            do {
                try applyRuntime(next)
            } catch {
                log.error("runtime: removing a drained backend failed; it stays draining", metadata: [
                    "service": "\(removal.service)", "backend": "\(removal.backend)", "error": "\(error)",
                ])
                continue
            }
            if open > 0 && !removal.byName { runtimeRemovalsTimedOut += 1 }
            let cause = removal.byName ? "dns" : "runtime"
            log.notice(open == 0 ? "\(cause): backend removed; its connections had ended"
                                 : "\(cause): backend removed at its drain timeout; its open connections run on",
                       metadata: ["service": "\(removal.service)", "backend": "\(removal.backend)", "openConnections": "\(open)"])
        }
        if !runtime.removals.isEmpty { scheduleRemovalCheck() }
    }

    /// `status` with what differs from the file marked: each backend's origin, pending
    /// removals with their deadline, file backends removed at runtime.
    public func annotate(_ statuses: [ServiceStatus]) -> [ServiceStatus] {
        guard !runtime.isEmpty else { return statuses }
        let nowMs = loop.nowMs
        return statuses.map { service in
            var service = service
            for index in service.backends.indices {
                let name = service.backends[index].name
                if runtime.isAdded(service: service.name, backend: name) { service.backends[index].origin = "runtime" }
                if let resolved = runtime.resolved.first(where: { $0.service == service.name && $0.backend.name == name }) {
                    service.backends[index].origin = "dns"
                    service.backends[index].resolvedFrom = ResolvedFrom(backend: resolved.origin, target: resolved.target)
                }
                if let removal = runtime.removal(service: service.name, backend: name) {
                    service.backends[index].removalInSeconds = Double(removal.deadlineMs &- min(nowMs, removal.deadlineMs)) / 1000
                }
            }
            service.removedAtRuntime = runtime.removedFromFile[service.name] ?? []
            return service
        }
    }

    public var runtimeAddedCount: Int { runtime.addedCount }
    public var runtimePendingRemovals: Int { runtime.removals.count { !$0.byName } }
    /// Whether an operator's changes (not DNS following the file's names) make the pools
    /// differ from the file.
    public var runtimeDiffersFromFile: Bool { runtime.differsFromFile }
}
