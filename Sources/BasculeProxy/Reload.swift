import BasculeConfig
import BasculeEventLoop

/// Hot reload (SIGHUP, `bascule ctl reload`): the new file is validated first and applied as a
/// whole or not at all. Services that keep their name and listen address keep their listeners,
/// counters and the health of unchanged backends; new ones start listening; removed ones stop
/// accepting while their open connections run on. Open connections are never touched.
extension Balancer {
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
                try apply(next)
                reloadCount += 1
                lastReloadSucceeded = true
                return []
            } catch {
                reloadFailureCount += 1
                lastReloadSucceeded = false
                log.error("reload rejected: \(error); keeping the running configuration")
                return ["\(error)"]
            }
        }
    }

    func apply(_ next: BasculeConfiguration) throws {
        // Bind every new listener before changing anything, so a port in use rejects the
        // reload as a whole.
        var kept: [ServiceEntry?] = []
        var newListeners: [Int: [Int32]] = [:]
        do {
            for (position, service) in next.services.enumerated() {
                let old = services.first { $0.config.name == service.name && $0.config.listen == service.listen }
                kept.append(old)
                if old == nil { newListeners[position] = try bindListeners(for: service) }
            }
        } catch {
            newListeners.values.joined().forEach(closeDescriptor)
            throw error
        }

        var entries: [ServiceEntry] = []
        for (position, service) in next.services.enumerated() {
            let entry: ServiceEntry
            do {
                entry = try makeEntry(service, carrying: kept[position])
            } catch {
                newListeners.values.joined().forEach(closeDescriptor)
                throw error
            }
            entries.append(entry)
        }

        let removed = services.filter { old in !entries.contains { $0.id == old.id } }
        for old in removed {
            log.notice("reload: service removed; it stops accepting, open connections continue", metadata: ["service": "\(old.config.name)"])
            for mailbox in workerMailboxes { mailbox.post(.removeService(id: old.id)) }
        }
        for (position, entry) in entries.enumerated() {
            if let fds = newListeners[position] {
                entry.boundAddress = SocketCalls.localAddress(fds[0])
                log.notice("reload: service added", metadata: ["service": "\(entry.config.name)", "listen": "\(entry.config.listen)"])
                for (worker, mailbox) in workerMailboxes.enumerated() {
                    mailbox.post(.addService(WorkerService(table: entry.table, traffic: entry.traffic[worker], listener: fds[worker])))
                }
            } else {
                for mailbox in workerMailboxes { mailbox.post(.table(entry.table)) }
            }
        }
        services = entries
        configuration = next
        noteSettingsAwaitingRestart(next)
        processLimits.limit.store(next.maxConnections ?? 0, ordering: .relaxed)
        log.notice("configuration reloaded", metadata: ["services": "\(entries.count)"])
        scheduleRampIfNeeded()
        onReload?(next)
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
            log.warning("reload: `\(path)` changed; it takes effect at the next restart, the process keeps running as it started")
        }
        settingsAwaitingRestart = pending
    }
}
