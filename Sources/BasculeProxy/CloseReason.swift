/// How a proxied connection ended; counted and (later) written to the access log.
enum CloseReason: Sendable {
    case completed
    case clientError
    case backendError
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
    case shutdown
}
