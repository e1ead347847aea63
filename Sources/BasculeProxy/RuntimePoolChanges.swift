import BasculeConfig

/// What the admin API changed in the pools since the file was last applied: backends added,
/// backends draining before removal, backends of the file already removed. Held in memory
/// only — nothing is written anywhere, so a restart returns to the file, and a reload makes
/// the file win (`reconcile`).
struct RuntimePoolChanges {
    struct Removal {
        var service: String
        var backend: String
        var deadlineMs: UInt64
        var reason: String
    }

    /// Backends added at runtime, per service name, in the order they were added.
    private(set) var added: [String: [BackendConfig]] = [:]
    /// Names of file backends removed at runtime (drained and gone), per service name.
    private(set) var removedFromFile: [String: [String]] = [:]
    /// Backends draining before they are removed.
    private(set) var removals: [Removal] = []

    var isEmpty: Bool { added.values.allSatisfy(\.isEmpty) && removedFromFile.values.allSatisfy(\.isEmpty) && removals.isEmpty }
    var addedCount: Int { added.values.reduce(0) { $0 + $1.count } }

    /// The file with these changes laid over it: what the process runs.
    func effective(_ file: BasculeConfiguration) -> BasculeConfiguration {
        var result = file
        for index in result.services.indices {
            let name = result.services[index].name
            let gone = removedFromFile[name] ?? []
            result.services[index].backends = result.services[index].backends.filter { !gone.contains($0.name) }
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
        removals.removeAll { $0.service == service && $0.backend == backend }
        if let position = added[service]?.firstIndex(where: { $0.name == backend }) {
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
        func fileHas(_ service: String, _ backend: String) -> Bool {
            file.services.first { $0.name == service }?.backends.contains { $0.name == backend } ?? false
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
        for removal in removals where fileHas(removal.service, removal.backend)
            && !isAdded(service: removal.service, backend: removal.backend) {
            undone.append("\(removal.service)/\(removal.backend): removal at runtime cancelled; the file keeps it")
            cancelled.append((removal.service, removal.backend))
        }
        for (service, names) in removedFromFile.sorted(by: { $0.key < $1.key }) {
            for name in names where fileHas(service, name) {
                undone.append("\(service)/\(name): removed at runtime; the file brings it back")
            }
        }
        self = RuntimePoolChanges()
        return (undone, cancelled)
    }
}
