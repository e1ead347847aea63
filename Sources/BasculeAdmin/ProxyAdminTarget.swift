import BasculeProxy

/// The running proxy as the admin server sees it: backend state through the registry,
/// reload through the reload, readiness and node drain through the controller.
public final class ProxyAdminTarget: AdminTarget {
    private let controller: ProxyController

    public init(_ controller: ProxyController) {
        self.controller = controller
    }

    public func status() -> [ServiceStatus] { controller.reload.annotate(controller.registry.status()) }

    public func servicesWithoutEligibleBackend() -> [String] { controller.registry.servicesWithoutEligibleBackend() }

    public func addBackend(service: String, json: [UInt8], reason: String) throws(RuntimeChangeRefusal) -> String {
        try controller.reload.addBackend(service: service, json: json, reason: reason).name
    }

    public func removeBackend(service: String, backend: String, reason: String) throws(RuntimeChangeRefusal) -> Int {
        try controller.reload.removeBackend(service: service, backend: backend, reason: reason)
    }

    public func setAdminState(service: Int, backend: Int, _ admin: AdminState, reason: String) {
        controller.registry.setAdminState(service: service, backend: backend, admin, reason: reason)
    }

    public func setWeight(service: Int, backend: Int, weight: Int, reason: String) {
        controller.registry.setWeight(service: service, backend: backend, weight: weight, reason: reason)
    }

    public func serviceIndex(named name: String) -> Int? { controller.registry.serviceIndex(named: name) }

    public func backendIndex(service: Int, named name: String) -> Int? {
        controller.registry.backendIndex(service: service, named: name)
    }

    public func reloadConfiguration() -> [String] { controller.reload.reloadConfiguration() }

    public var nodeUnreadyReason: String? { controller.nodeUnreadyReason }

    public func setNodeDrained(_ drained: Bool, reason: String) {
        controller.setNodeDrained(drained, reason: reason)
    }
}
