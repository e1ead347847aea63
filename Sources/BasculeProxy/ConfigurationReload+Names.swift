import BasculeConfig
import BasculeEventLoop
import Glibc
import Logging

/// For origin "dns" in /status: the file's entry (`db`) and the `name:port` it resolves.
public struct ResolvedFrom: Sendable, Equatable {
    public var backend: String
    public var target: String
}

/// One followed name as /status and /metrics show it.
public struct NameStatus: Sendable {
    public var name: String
    /// `service/backend (name:port)` for each entry of the file that gives this name.
    public var usedBy: [String]
    public var addresses: [String]
    public var ttlSeconds: Int?
    public var lastSuccessTimestamp: Double?
    public var lastFailureTimestamp: Double?
    public var lastFailureReason: String?
    public var lastChangeTimestamp: Double?
    public var consecutiveFailures: Int
    /// Seconds until the next query (0 while one is under way or due).
    public var nextRefreshInSeconds: Double
    /// Resolutions by result ("success", "nxdomain", "nodata", "servfail", "timeout", "refused", "error").
    public var results: [(result: String, count: Int)]
}

/// Backends by DNS name, on the runtime add/remove machinery: every address a name resolves
/// to is a backend laid over the file like a runtime addition, and an address that leaves
/// the answer is drained and then removed like a runtime removal. A failed resolution keeps
/// the pool as it is.
extension ConfigurationReload {
    /// How long startup waits for the first answers before the listeners open.
    public static let startupResolutionWaitMs = 5000

    /// Starts following the file's names. Startup waits for their first answers (at most
    /// `startupResolutionWaitMs`, on the calling thread, before the control loop runs) so
    /// services start with their pools; a name that has not resolved by then starts with no
    /// backends, is logged, and joins when it resolves. From then on names are resolved by the
    /// resolver thread on their TTL.
    public func startResolvingNames(source: any AddressSource = SystemAddressSource(),
                                    waitMs: Int = ConfigurationReload.startupResolutionWaitMs) throws {
        let resolver = try NameResolver(loop: loop, source: source, settings: fileConfiguration.dns,
                                        log: Logger(label: "bascule.dns"))
        resolver.onChange = { [unowned self] name in self.follow(name) }
        names = resolver
        let hosts = Self.hosts(fileConfiguration)
        resolver.resolveAtStart(hosts, waitMs: waitMs)
        for host in hosts.sorted(by: { $0.text < $1.text }) {
            guard let name = resolver.names[host], name.addresses.isEmpty else { continue }
            let reason = name.lastFailure.map { "\($0)" } ?? "no answer within \(waitMs) ms"
            log.warning("dns: name does not resolve; starting without its backends (retrying on its own)", metadata: [
                "name": "\(host)", "reason": "\(reason)", "usedBy": "\(users(of: host).joined(separator: ", "))",
            ])
        }
    }

    /// Stops the resolver thread (tests; the process just exits).
    public func stopResolvingNames() {
        names?.stop()
        names = nil
    }

    /// After a reload: follow the names the file gives now, and ask every one again.
    func followNames(refreshAll: Bool) {
        guard let names else { return }
        names.settings = fileConfiguration.dns
        names.follow(Self.hosts(fileConfiguration), refreshAll: refreshAll)
    }

    static func hosts(_ file: BasculeConfiguration) -> Set<HostName> {
        Set(file.services.flatMap { $0.namedBackends.map(\.host) })
    }

    private func users(of host: HostName) -> [String] {
        fileConfiguration.services.flatMap { service in
            service.namedBackends.filter { $0.host == host }.map { "\(service.name)/\($0.name) (\($0.target))" }
        }
    }

    /// Makes every entry that gives `name` match its addresses: new addresses are added,
    /// vanished ones drain and are removed after (as `removeBackend`), an address that comes
    /// back while its backend drains stays.
    func follow(_ name: ResolvedName) {
        var next = runtime
        var drains: [(service: String, backend: String, reason: String)] = []
        var restored: [(service: String, backend: String)] = []
        var added: [String] = []
        let nowMs = loop.nowMs
        let wanted = Set(name.addresses)
        for service in fileConfiguration.services {
            for entry in service.namedBackends where entry.host == name.host {
                let current = next.resolved(service: service.name, origin: entry.name)
                for address in name.addresses where !current.contains(where: { $0.backend.address.address == address }) {
                    let backend = entry.backend(at: address)
                    next.addResolved(.init(service: service.name, origin: entry.name, target: entry.target, backend: backend))
                    added.append("\(service.name)/\(backend.name)")
                }
                for resolved in current {
                    let backend = resolved.backend.name
                    let removal = next.removal(service: service.name, backend: backend)
                    if wanted.contains(resolved.backend.address.address) {
                        if removal?.byName == true {
                            next.cancelRemoval(service: service.name, backend: backend)
                            restored.append((service.name, backend))
                        }
                    } else if removal == nil {
                        let reason = "dns: \(name.host) no longer resolves to \(resolved.backend.address.address)"
                        next.beginRemoval(.init(service: service.name, backend: backend,
                                                deadlineMs: nowMs + UInt64(service.drainTimeoutMs), reason: reason, byName: true))
                        drains.append((service.name, backend, reason))
                    }
                }
            }
        }
        guard !added.isEmpty || !drains.isEmpty || !restored.isEmpty else { return }
        do throws(RuntimeChangeRefusal) {
            try applyRuntime(next)
        } catch {
            nameApplyFailures += 1
            log.error("dns: the new addresses could not be applied; the pool stays as it was", metadata: [
                "name": "\(name.host)", "error": "\(error)",
            ])
            return
        }
        for (service, backend, reason) in drains {
            if let s = registry.serviceIndex(named: service), let b = registry.backendIndex(service: s, named: backend) {
                registry.setAdminState(service: s, backend: b, .draining, reason: "\(reason): draining before removal")
            }
        }
        for (service, backend) in restored {
            if let s = registry.serviceIndex(named: service), let b = registry.backendIndex(service: s, named: backend) {
                registry.setAdminState(service: s, backend: b, .enabled, reason: "dns: \(name.host) resolves to it again")
            }
        }
        if !drains.isEmpty { scheduleRemovalCheck() }
        log.notice("dns: addresses changed; pool follows", metadata: [
            "name": "\(name.host)", "addresses": "\(name.addresses.map(\.description).joined(separator: " "))",
            "added": "\(added.joined(separator: " "))", "draining": "\(drains.map { "\($0.service)/\($0.backend)" }.joined(separator: " "))",
            "restored": "\(restored.map { "\($0.service)/\($0.backend)" }.joined(separator: " "))",
        ])
    }

    /// Every followed name, sorted.
    public func nameStatuses() -> [NameStatus] {
        guard let names else { return [] }
        var realtime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        let wallSeconds = Double(realtime.tv_sec) + Double(realtime.tv_nsec) / 1e9
        let nowMs = loop.nowMs
        func wall(_ ms: UInt64?) -> Double? {
            ms.map { ((wallSeconds - Double(nowMs &- $0) / 1000) * 1000).rounded() / 1000 }
        }
        return names.names.values.sorted { $0.host.text < $1.host.text }.map { name in
            NameStatus(name: name.host.text, usedBy: users(of: name.host), addresses: name.addresses.map(\.description),
                       ttlSeconds: name.ttlSeconds.map(Int.init), lastSuccessTimestamp: wall(name.lastSuccessMs),
                       lastFailureTimestamp: wall(name.lastFailureMs), lastFailureReason: name.lastFailure.map { "\($0)" },
                       lastChangeTimestamp: wall(name.lastChangeMs), consecutiveFailures: name.consecutiveFailures,
                       nextRefreshInSeconds: names.isResolving(name.host) ? 0
                           : Double(name.nextRefreshMs &- min(nowMs, name.nextRefreshMs)) / 1000,
                       results: name.results.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
    }
}
