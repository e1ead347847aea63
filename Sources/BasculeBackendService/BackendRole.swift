import BasculePosix

/// Which kind of platform server a backend imitates; decides what `GET /` returns.
public enum BackendRole: String, Sendable, CaseIterable {
    case publishing, management, reporting
}

/// `http` serves the routes; `echo` is a raw TCP echo for byte-moving tests and benchmarks.
public enum BackendMode: String, Sendable, CaseIterable {
    case http, echo
}

public struct BackendConfiguration: Sendable {
    public var listen: SocketAddress
    public var name: String
    public var role: BackendRole
    public var mode: BackendMode
    /// Expect a PROXY protocol header (v1 or v2) first on every connection.
    public var acceptProxy = false
    /// Where the agent port listens, when there is one.
    public var agentListen: SocketAddress?
    /// Serve HTTPS with this certificate (after the PROXY header, when one is expected).
    public var tls: TLSServerContext?

    public init(listen: SocketAddress, name: String, role: BackendRole = .publishing, mode: BackendMode = .http) {
        self.listen = listen
        self.name = name
        self.role = role
        self.mode = mode
    }
}
