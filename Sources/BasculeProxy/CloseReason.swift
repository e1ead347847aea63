/// How a proxied connection ended; counted and (later) written to the access log.
enum CloseReason: Sendable {
    case completed
    case clientError
    case backendError
    case idleTimeout
    case noBackend
    case connectFailed
    case descriptorLimit
    case shutdown
}
