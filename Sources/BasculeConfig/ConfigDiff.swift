/// What a reload changes, by name: the hot-reload path uses it to touch only what moved
/// (start or stop a listener, add or drain a backend) and to log the change.
///
/// Order in the file is not a change: services and backends are matched by name, so
/// reordering the file is a no-op, as DESIGN.md requires for hashing stability.
public struct ConfigDiff: Sendable, Equatable {
    public var addedServices: [String]
    public var removedServices: [String]
    public var changedServices: [ServiceChange]
    /// `workers` differs; applying it needs a restart.
    public var workersChanged: Bool
    /// The admin listen address or token differs.
    public var adminChanged: Bool

    public init(from old: BasculeConfiguration, to new: BasculeConfiguration) {
        let oldServices = Dictionary(old.services.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let newNames = Set(new.services.map(\.name))
        addedServices = new.services.map(\.name).filter { oldServices[$0] == nil }
        removedServices = old.services.map(\.name).filter { !newNames.contains($0) }
        changedServices = new.services.compactMap { service in
            oldServices[service.name].flatMap { ServiceChange(from: $0, to: service) }
        }
        workersChanged = old.workers != new.workers
        adminChanged = old.admin != new.admin
    }

    public var isEmpty: Bool {
        addedServices.isEmpty && removedServices.isEmpty && changedServices.isEmpty
            && !workersChanged && !adminChanged
    }
}

/// How one service (present in both configurations) changed.
public struct ServiceChange: Sendable, Equatable {
    public var name: String
    public var addedBackends: [String]
    public var removedBackends: [String]
    /// Backends present in both whose address, weight, backup flag or limit differ.
    public var changedBackends: [String]
    /// The listen address differs: the service's listeners must be rebound.
    public var listenChanged: Bool
    /// Anything else about the service (strategy, health check, timeouts, ACLs...) differs.
    public var settingsChanged: Bool

    /// nil when the two are the same service in every respect but backend order.
    public init?(from old: ServiceConfig, to new: ServiceConfig) {
        let oldBackends = Dictionary(old.backends.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let newNames = Set(new.backends.map(\.name))
        name = new.name
        addedBackends = new.backends.map(\.name).filter { oldBackends[$0] == nil }
        removedBackends = old.backends.map(\.name).filter { !newNames.contains($0) }
        changedBackends = new.backends.filter { backend in
            oldBackends[backend.name].map { $0 != backend } ?? false
        }.map(\.name)
        listenChanged = old.listen != new.listen
        var oldSettings = old
        var newSettings = new
        oldSettings.backends = []
        newSettings.backends = []
        oldSettings.listen = new.listen
        settingsChanged = oldSettings != newSettings
        if addedBackends.isEmpty && removedBackends.isEmpty && changedBackends.isEmpty
            && !listenChanged && !settingsChanged {
            return nil
        }
    }
}
