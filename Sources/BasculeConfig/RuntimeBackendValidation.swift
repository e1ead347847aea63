/// A backend added through the admin API (`POST /services/{service}/backends`) passes the very
/// rules a backend in the file passes — the same function reads it — so the running process
/// never meets a backend the file would have refused. Paths in the errors start at `$`, the
/// posted object.
public enum RuntimeBackendValidation {
    /// The backend, or every error in it. `takenNames` are the service's backends now (from
    /// the file and from earlier runtime additions): a name must stay unique within its service.
    public static func backend(json bytes: [UInt8], service: ServiceConfig,
                               takenNames: [String]) -> Result<BackendConfig, ConfigErrors> {
        let document: JSONValue
        switch JSONParser.parse(bytes) {
        case .success(let value): document = value
        case .failure(let syntaxError):
            return .failure(ConfigErrors([ConfigError(path: syntaxError.path, message: syntaxError.description)]))
        }
        var collector = ErrorCollector()
        // Taken names are reported like a duplicate in the file, naming who holds them.
        var names: [String: Int] = [:]
        for (index, name) in takenNames.enumerated() { names[name] = index }
        let listen = EndpointParsing.parse(service.listen.description).success
        let backend = ServiceValidation.backend(document, at: .root, serviceListen: listen, names: &names,
                                                collector: &collector)
        switch backend {
        case .literal(let backend)?:
            if service.xdp != nil, let problem = XDPServiceValidation.backendProblem(backend.address, listen: service.listen) {
                collector.report(JSONPath.root.key("address"), problem)
            }
            if collector.errors.isEmpty { return .success(backend) }
        case .named(let entry)?:
            // A name is followed for as long as the file names it; a runtime backend has no
            // file to say when to stop, so the runtime API takes addresses only.
            collector.report(JSONPath.root.key("address"), "\(quotedForMessage(entry.target)) is a host name: backends by DNS name "
                                 + "are given in the file; the runtime API takes IP literals")
        case nil:
            break
        }
        if collector.errors.isEmpty {
            collector.report(.root, "not a usable backend")
        }
        // Paths inside the posted object read from its root, `$.address`, as in the file they
        // would read `services[0].backends[2].address`.
        return .failure(ConfigErrors(collector.errors.map { error in
            var error = error
            if error.path != "$" { error.path = error.path.hasPrefix("[") ? "$" + error.path : "$." + error.path }
            return error
        }))
    }
}
