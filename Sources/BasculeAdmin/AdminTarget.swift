import BasculeProxy

/// What the admin server reads and changes: `ProxyAdminTarget` over the running proxy; tests
/// use a fake.
/// Every call is made on the control loop's thread, the one the server runs on.
public protocol AdminTarget: AnyObject {
    func status() -> [ServiceStatus]
    func setAdminState(service: Int, backend: Int, _ admin: AdminState, reason: String)
    func setWeight(service: Int, backend: Int, weight: Int, reason: String)
    func serviceIndex(named name: String) -> Int?
    func backendIndex(service: Int, named name: String) -> Int?
    /// Reads and applies the configuration file again; the errors when it was rejected (the
    /// running configuration is then kept), empty when it was applied.
    func reloadConfiguration() -> [String]
    /// Why the node itself should get no new clients (shutting down, drained by an operator),
    /// or nil; readiness also needs every service to have an eligible backend.
    var nodeUnreadyReason: String? { get }
    func setNodeDrained(_ drained: Bool, reason: String)
    /// Services without a backend that would take a new connection, for /readyz: asked
    /// several times a second by keepalived or a BGP speaker, so a target with large pools
    /// answers it without building the whole status.
    func servicesWithoutEligibleBackend() -> [String]
    /// `POST /services/{service}/backends`: the backend's JSON object as in the file,
    /// validated with the file's rules. Answers its name.
    func addBackend(service: String, json: [UInt8], reason: String) throws(RuntimeChangeRefusal) -> String
    /// `DELETE /services/{service}/backends/{backend}`: drained, then removed. Answers the
    /// drain timeout in milliseconds.
    func removeBackend(service: String, backend: String, reason: String) throws(RuntimeChangeRefusal) -> Int
}

extension AdminTarget {
    public func servicesWithoutEligibleBackend() -> [String] {
        status().filter { !$0.hasEligibleBackend }.map(\.name)
    }

    public func addBackend(service: String, json: [UInt8], reason: String) throws(RuntimeChangeRefusal) -> String {
        throw .failed("this target cannot change its pools")
    }

    public func removeBackend(service: String, backend: String, reason: String) throws(RuntimeChangeRefusal) -> Int {
        throw .failed("this target cannot change its pools")
    }
}
