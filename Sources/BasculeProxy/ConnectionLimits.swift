import BasculePosix
import Synchronization

/// Limits shared by every worker for one service; kept across table rebuilds and reloads.
final class ServiceLimits: Sendable {
    /// Client connections held on this service (maintained only while a limit is set).
    let active = Atomic<Int>(0)
    /// Present when `maxConnectionsPerClient` is set.
    let perClient: ClientConnectionCounts?

    init(perClient: Bool) {
        self.perClient = perClient ? ClientConnectionCounts() : nil
    }
}

/// The process-wide `maxConnections`.
public final class ProcessLimits: Sendable {
    let active = Atomic<Int>(0)
    /// 0: no limit. Atomic so a reload can change it while workers read it.
    let limit = Atomic<Int>(0)

    public init() {}
}

/// What one connection took from the limits, given back when it ends. Each part is held by
/// reference, so a reload that replaces a service's limits cannot unbalance the counts.
/// A part is set only once taken and cleared as it is given back, and the value cannot be
/// copied: each place is given back exactly once, by `release()` or, on any path that forgot
/// to, when the admission is dropped.
struct Admission: ~Copyable {
    var process: ProcessLimits?
    var service: ServiceLimits?
    var clientHash: UInt64 = 0
    var perClient: ClientConnectionCounts?

    /// Takes a place under the process's and the service's `maxConnections`, both or neither.
    mutating func takeSharedPlaces(_ processLimits: ProcessLimits, _ table: ServiceTable) -> Bool {
        let processLimit = processLimits.limit.load(ordering: .relaxed)
        if processLimit > 0 {
            let taken = processLimits.active.add(1, ordering: .relaxed).newValue
            process = processLimits
            if taken > processLimit {
                release()
                return false
            }
        }
        if let limit = table.config.maxConnections {
            let taken = table.limits.active.add(1, ordering: .relaxed).newValue
            service = table.limits
            if taken > limit {
                release()
                return false
            }
        }
        return true
    }

    /// Takes the client's place under `maxConnectionsPerClient`, when the service sets one.
    /// Separate from the process and service places because, behind an upstream balancer, the
    /// client is known only once its PROXY header has been read.
    mutating func admitClient(_ peer: SocketAddress, table: ServiceTable) -> Bool {
        guard let limit = table.config.maxConnectionsPerClient, let counts = table.limits.perClient else { return true }
        let hash = counts.hash(peer)
        guard counts.acquire(hash, limit: limit) else { return false }
        perClient = counts
        clientHash = hash
        return true
    }

    mutating func release() {
        process?.active.subtract(1, ordering: .relaxed)
        process = nil
        service?.active.subtract(1, ordering: .relaxed)
        service = nil
        perClient?.release(clientHash)
        perClient = nil
    }

    deinit {
        process?.active.subtract(1, ordering: .relaxed)
        service?.active.subtract(1, ordering: .relaxed)
        perClient?.release(clientHash)
    }
}
