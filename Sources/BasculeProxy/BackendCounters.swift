import BasculeBalancing
import Synchronization

/// Counters every worker updates for one backend. Active connections must be shared (the
/// least-loaded strategies compare them across workers); they change once per connection,
/// never per read.
public final class BackendCounters: Sendable {
    public let active = Atomic<Int>(0)
    public let total = Atomic<Int>(0)
    public let connectFailures = Atomic<Int>(0)
    /// Reset by every successful connect; the control thread reads it for passive checks.
    public let consecutiveFailures = Atomic<Int>(0)

    public init() {}
}

/// The least-loaded strategies read live counts through this view.
struct SharedLoad: LoadSource {
    let counters: [BackendCounters]

    @inline(__always)
    func activeConnections(backend index: Int) -> Int {
        counters[index].active.load(ordering: .relaxed)
    }
}
