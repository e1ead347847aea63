/// How a proxied connection ended; counted and written to the access log.
enum CloseReason: Sendable {
    case completed
    case clientError
    case backendError
    /// The peer's host stopped answering: keepalive probes or the backend's user timeout ran
    /// out (ETIMEDOUT).
    case clientTimedOut
    case backendTimedOut
    /// Reset because its backend was marked down (`onBackendDown: "reset"`).
    case backendDown
    /// Reset because a lower tier became eligible again (`failback`).
    case failback
    case idleTimeout
    case noBackend
    case connectFailed
    case descriptorLimit
    /// Every eligible backend was at its own `maxConnections`.
    case backendsFull
    /// A connection limit (process, service, client) refused it at accept.
    case refusedByLimit
    case deniedByAccessList
    case badProxyHeader
    /// On an address routed by TLS server name: no route took it (no match, no default).
    case noRoute
    /// On such an address: the start was not a usable ClientHello (not TLS, malformed, too
    /// large, too slow, or the client left).
    case badClientHello
    case shutdown

    /// The access log's `end` field.
    func accessLogEnd(backendClosedFirst: Bool) -> String {
        switch self {
        case .completed: return backendClosedFirst ? "backend closed" : "client closed"
        case .clientError: return "client error"
        case .backendError: return "backend error"
        case .clientTimedOut: return "client timed out"
        case .backendTimedOut: return "backend timed out"
        case .backendDown: return "backend down"
        case .failback: return "failback"
        case .idleTimeout: return "idle timeout"
        case .noBackend: return "no backend"
        case .connectFailed: return "connect failed"
        case .descriptorLimit: return "descriptor limit"
        case .backendsFull, .refusedByLimit: return "refused by limit"
        case .deniedByAccessList: return "denied"
        case .badProxyHeader: return "bad proxy header"
        case .noRoute: return "no route"
        case .badClientHello: return "bad client hello"
        case .shutdown: return "shutdown"
        }
    }
}

extension CloseReason {
    /// The access log's fixed two-letter code, after HAProxy's termination state: the first
    /// letter says what ended the connection, the second in which phase. The table is in
    /// docs/access-log.md; a code is never renamed, only added.
    var terminationCode: StaticString {
        switch self {
        case .completed: return "--"
        case .clientError: return "CD"
        case .backendError: return "SD"
        // HAProxy's letters: 'c'/'s' a side's timeout, 'D' killed because the server went
        // down, 'U' killed on a backup because an active server came back.
        case .clientTimedOut: return "cD"
        case .backendTimedOut: return "sD"
        case .backendDown: return "DD"
        case .failback: return "UD"
        case .idleTimeout: return "cD"
        case .connectFailed: return "SC"
        case .noBackend: return "NC"
        case .descriptorLimit: return "RC"
        case .backendsFull, .refusedByLimit: return "PC"
        case .deniedByAccessList: return "PR"
        case .badProxyHeader: return "CR"
        case .noRoute: return "NR"
        case .badClientHello: return "TR"
        case .shutdown: return "KD"
        }
    }
}
