import Synchronization

/// Connections counted by one worker for one service; each counter has a single writer (its
/// worker), so it is bumped with a relaxed load and store, no locked instruction.
public final class TrafficStats: Sendable {
    public let accepted = Atomic<Int>(0)
    public let failed = Atomic<Int>(0)
    /// Closed at accept by `allow`/`deny`.
    public let denied = Atomic<Int>(0)
    /// Closed at accept by a connection limit (process, service, per client, or every
    /// backend at its own limit).
    public let refused = Atomic<Int>(0)
    /// Closed at accept because the peer may not send PROXY headers (`trustedProxies`).
    public let untrustedProxies = Atomic<Int>(0)
    /// Closed because the PROXY protocol header was malformed, truncated or late.
    public let rejectedProxyHeaders = Atomic<Int>(0)
    /// Connects tried again after a failed one (at most `retries` per client).
    public let retries = Atomic<Int>(0)
    /// Connections ended because the client's host stopped answering keepalive probes.
    public let clientTimedOut = Atomic<Int>(0)
    let histograms = ConnectionHistograms()

    public init() {}
}

/// A byte counter with one writer thread. Padded to its own cache line so two workers'
/// counters never share one.
final class ByteCounter: Sendable {
    let value = Atomic<UInt64>(0)
    private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)

    @inline(__always)
    func add(_ count: Int) {
        value.store(value.load(ordering: .relaxed) &+ UInt64(count), ordering: .relaxed)
    }
}

extension Atomic where Value == Int {
    /// For counters with one writer thread: no read-modify-write instruction needed.
    @inline(__always)
    func bump() {
        store(load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }
}
