import BasculeBalancing
import Synchronization

/// Counters for one backend, shared by every worker and kept across table rebuilds (and
/// reloads, while the backend keeps its name). Active connections must be shared (the
/// least-loaded strategies compare them across workers); they change once per connection,
/// never per read. Bytes are counted per worker, each slot written by one thread only.
public final class BackendCounters: Sendable {
    public let active = Atomic<Int>(0)
    public let total = Atomic<Int>(0)
    public let connectFailures = Atomic<Int>(0)
    /// Reset by every successful connect; the control thread reads it for passive checks.
    public let consecutiveFailures = Atomic<Int>(0)
    let bytesIn: [ByteCounter]
    let bytesOut: [ByteCounter]

    public init(workers: Int = 1) {
        bytesIn = (0..<max(1, workers)).map { _ in ByteCounter() }
        bytesOut = (0..<max(1, workers)).map { _ in ByteCounter() }
    }

    public var totalBytesIn: UInt64 { bytesIn.reduce(0) { $0 &+ $1.value.load(ordering: .relaxed) } }
    public var totalBytesOut: UInt64 { bytesOut.reduce(0) { $0 &+ $1.value.load(ordering: .relaxed) } }
}

/// The least-loaded strategies read live counts through this view.
struct SharedLoad: LoadSource {
    let counters: [BackendCounters]

    @inline(__always)
    func activeConnections(backend index: Int) -> Int {
        counters[index].active.load(ordering: .relaxed)
    }
}
