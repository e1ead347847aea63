import Glibc

/// Why a connection attempt to a backend failed, in the words an operator's dashboard uses:
/// a refusing port, a host that does not answer, a network path that is missing, a reset in the
/// handshake, or our own side running out (ports, buffers).
public enum ConnectErrorReason: String, CaseIterable, Sendable {
    case refused
    case timeout
    case unreachable
    case reset
    case local
    case other

    public init(errno code: Int32) {
        switch code {
        case ECONNREFUSED: self = .refused
        case ETIMEDOUT: self = .timeout
        case ENETUNREACH, EHOSTUNREACH, EHOSTDOWN, ENETDOWN: self = .unreachable
        case ECONNRESET, ECONNABORTED: self = .reset
        // No free local port or kernel memory: the backend is not to blame.
        case EADDRNOTAVAIL, EAGAIN, ENOBUFS, ENOMEM: self = .local
        default: self = .other
        }
    }
}
