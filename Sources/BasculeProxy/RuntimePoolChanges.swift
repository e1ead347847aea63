import BasculeConfig

/// What the admin API changed in the pools since the file was last applied: backends added,
/// backends draining before removal, backends of the file already removed. Held in memory
/// only — nothing is written anywhere, so a restart returns to the file, and a reload makes
/// the file win (`reconcile`). The backends the file's DNS names resolve to are laid over the
/// file the same way (`resolved`): an address that appears is an addition, one that
/// disappears a removal drained first; they are the file's, so a reload keeps them.
struct RuntimePoolChanges {
    struct Removal {
        var service: String
        var backend: String
        var deadlineMs: UInt64
        var reason: String
        /// Begun because the backend's address left its name's DNS answer (not by an operator).
        var byName = false
    }

    /// A backend made from one address of a named entry of the file.
    struct ResolvedBackend {
        var service: String
        /// The entry's name in the file (`db` for `db@192.0.2.7`).
        var origin: String
        var target: String
        var backend: BackendConfig
    }

    /// Backends added at runtime, per service name, in the order they were added.
    private(set) var added: [String: [BackendConfig]] = [:]
    /// Names of file backends removed at runtime (drained and gone), per service name.
    private(set) var removedFromFile: [String: [String]] = [:]
    /// Backends draining before they are removed.
    private(set) var removals: [Removal] = []
    /// Backends resolved from the file's DNS names, in the order they appeared.
    private(set) var resolved: [ResolvedBackend] = []

    var isEmpty: Bool {
        added.values.allSatisfy(\.isEmpty) && removedFromFile.values.allSatisfy(\.isEmpty) && removals.isEmpty && resolved.isEmpty
    }
    var addedCount: Int { added.values.reduce(0) { $0 + $1.count } }
    /// What an operator changed (DNS-driven changes are the file's own).
    var differsFromFile: Bool {
        addedCount > 0 || !removedFromFile.values.allSatisfy(\.isEmpty) || removals.contains { !$0.byName }
    }

    /// The file with these changes laid over it: what the process runs.
    func effective(_ file: BasculeConfiguration) -> BasculeConfiguration {
        var result = file
        for index in result.services.indices {
            let name = result.services[index].name
            let gone = removedFromFile[name] ?? []
            let fromNames = resolved.filter { $0.service == name }.map(\.backend)
            result.services[index].backends = (result.services[index].backends + fromNames).filter { !gone.contains($0.name) }
                + (added[name] ?? [])
        }
        return result
    }

    mutating func add(_ backend: BackendConfig, service: String) {
        added[service, default: []].append(backend)
    }

    mutating func beginRemoval(_ removal: Removal) {
        removals.append(removal)
    }

    func isRemoving(service: String, backend: String) -> Bool {
        removals.contains { $0.service == service && $0.backend == backend }
    }

    func removal(service: String, backend: String) -> Removal? {
        removals.first { $0.service == service && $0.backend == backend }
    }

    func isAdded(service: String, backend: String) -> Bool {
        added[service]?.contains { $0.name == backend } ?? false
    }

    /// The drain is over: the backend leaves the pool (a runtime addition is forgotten, a file
    /// backend is remembered as removed until the next reload).
    mutating func completeRemoval(service: String, backend: String) {
        let byName = removal(service: service, backend: backend)?.byName ?? false
        removals.removeAll { $0.service == service && $0.backend == backend }
        if byName {
            resolved.removeAll { $0.service == service && $0.backend.name == backend }
        } else if let position = added[service]?.firstIndex(where: { $0.name == backend }) {
            added[service]?.remove(at: position)
        } else {
            removedFromFile[service, default: []].append(backend)
        }
    }

    /// What applying `file` undoes, one sentence per change, and the file backends whose
    /// drain before removal is cancelled (they must be enabled again). Afterwards nothing
    /// differs from the file.
    mutating func reconcile(with file: BasculeConfiguration) -> (undone: [String], cancelled: [(service: String, backend: String)]) {
        var undone: [String] = []
        var cancelled: [(service: String, backend: String)] = []
        // A backend of a name the file still gives counts as the file's.
        func fileHas(_ service: String, _ backend: String) -> Bool {
            guard let config = file.services.first(where: { $0.name == service }) else { return false }
            return config.backends.contains { $0.name == backend } || resolved.contains { entry in
                entry.service == service && entry.backend.name == backend
                    && config.namedBackends.contains { $0.name == entry.origin && $0.target == entry.target }
            }
        }
        for (service, backends) in added.sorted(by: { $0.key < $1.key }) {
            for backend in backends {
                if fileHas(service, backend.name) {
                    undone.append("\(service)/\(backend.name): added at runtime; the file's definition of this name applies now")
                } else {
                    undone.append("\(service)/\(backend.name): added at runtime, not in the file; removed")
                }
            }
        }
        for removal in removals where !removal.byName && fileHas(removal.service, removal.backend)
            && !isAdded(service: removal.service, backend: removal.backend) {
            undone.append("\(removal.service)/\(removal.backend): removal at runtime cancelled; the file keeps it")
            cancelled.append((removal.service, removal.backend))
        }
        for (service, names) in removedFromFile.sorted(by: { $0.key < $1.key }) {
            for name in names where fileHas(service, name) {
                undone.append("\(service)/\(name): removed at runtime; the file brings it back")
            }
        }
        // Backends of names the file still gives, with the same target, stay (with the
        // file's settings as they are now), and so do their drains; the names are resolved
        // again right after the reload.
        var keptResolved: [ResolvedBackend] = []
        for var entry in resolved {
            guard let named = file.services.first(where: { $0.name == entry.service })?.namedBackends
                .first(where: { $0.name == entry.origin && $0.target == entry.target }) else { continue }
            entry.backend = named.backend(at: entry.backend.address.address)
            keptResolved.append(entry)
        }
        let keptDrains = removals.filter { removal in
            removal.byName && keptResolved.contains { $0.service == removal.service && $0.backend.name == removal.backend }
        }
        self = RuntimePoolChanges()
        resolved = keptResolved
        removals = keptDrains
        return (undone, cancelled)
    }

    func resolved(service: String, origin: String) -> [ResolvedBackend] {
        resolved.filter { $0.service == service && $0.origin == origin }
    }

    mutating func addResolved(_ backend: ResolvedBackend) {
        resolved.append(backend)
    }

    /// An address came back while its backend drained: it stays.
    mutating func cancelRemoval(service: String, backend: String) {
        removals.removeAll { $0.service == service && $0.backend == backend }
    }
}
