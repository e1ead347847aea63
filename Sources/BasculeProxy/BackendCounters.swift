import BasculeBalancing
import Synchronization

/// Counters for one backend, shared by every worker and kept across table rebuilds (and
/// reloads, while the backend keeps its name). Active connections must be shared (the
/// least-loaded strategies compare them across workers); they change once per connection,
/// never per read. Bytes are counted per worker, each slot written by one thread only.
public final class BackendCounters: Sendable {
    /// In the service's `ActiveCountStore`, at `slot`, which this object owns for its life.
    public let active: ActiveCount
    public let slot: Int
    let store: ActiveCountStore
    public let total = Atomic<Int>(0)
    public let connectFailures = Atomic<Int>(0)
    /// Reset by every successful connect; the control thread reads it for passive checks.
    public let consecutiveFailures = Atomic<Int>(0)
    let bytesIn: [ByteCounter]
    let bytesOut: [ByteCounter]
    // One counter per ConnectErrorReason (Atomic cannot live in an array), after the fields
    // every connection touches so those stay on one cache line. Failures are rare, so a
    // switch per failure costs nothing that matters.
    private let refusedConnects = Atomic<Int>(0)
    private let timedOutConnects = Atomic<Int>(0)
    private let unreachableConnects = Atomic<Int>(0)
    private let resetConnects = Atomic<Int>(0)
    private let localConnectErrors = Atomic<Int>(0)
    private let otherConnectErrors = Atomic<Int>(0)
    /// Open connections reset because the backend was marked down, or because a lower tier
    /// came back (failback); added by workers on those rare events only.
    public let resetOnDown = Atomic<Int>(0)
    public let resetOnFailback = Atomic<Int>(0)
    /// Connections ended because the backend's host stopped answering (ETIMEDOUT from
    /// keepalive probes or TCP_USER_TIMEOUT).
    public let timedOut = Atomic<Int>(0)

    /// Every backend of a service takes its slot from the service's one `store`.
    public init(workers: Int = 1, store: ActiveCountStore) {
        self.store = store
        slot = store.takeSlot()
        active = ActiveCount(count: store.base + slot)
        bytesIn = (0..<max(1, workers)).map { _ in ByteCounter() }
        bytesOut = (0..<max(1, workers)).map { _ in ByteCounter() }
    }

    deinit {
        store.releaseSlot(slot)
    }

    /// Counts one failed attempt in `connectFailures` and under its reason.
    public func recordConnectFailure(_ reason: ConnectErrorReason) {
        connectFailures.add(1, ordering: .relaxed)
        switch reason {
        case .refused: refusedConnects.add(1, ordering: .relaxed)
        case .timeout: timedOutConnects.add(1, ordering: .relaxed)
        case .unreachable: unreachableConnects.add(1, ordering: .relaxed)
        case .reset: resetConnects.add(1, ordering: .relaxed)
        case .local: localConnectErrors.add(1, ordering: .relaxed)
        case .other: otherConnectErrors.add(1, ordering: .relaxed)
        }
    }

    public func connectFailures(_ reason: ConnectErrorReason) -> Int {
        switch reason {
        case .refused: refusedConnects.load(ordering: .relaxed)
        case .timeout: timedOutConnects.load(ordering: .relaxed)
        case .unreachable: unreachableConnects.load(ordering: .relaxed)
        case .reset: resetConnects.load(ordering: .relaxed)
        case .local: localConnectErrors.load(ordering: .relaxed)
        case .other: otherConnectErrors.load(ordering: .relaxed)
        }
    }

    public var totalBytesIn: UInt64 { bytesIn.reduce(0) { $0 &+ $1.value.load(ordering: .relaxed) } }
    public var totalBytesOut: UInt64 { bytesOut.reduce(0) { $0 &+ $1.value.load(ordering: .relaxed) } }
}

/// The least-loaded strategies read live counts through this view.
struct SharedLoad: LoadSource {
    let counters: [BackendCounters]
    /// The service's count store, where every one of `counters` has its slot.
    let counts: UnsafePointer<UInt32>

    init(counters: [BackendCounters], store: ActiveCountStore) {
        assert(counters.allSatisfy { $0.store === store }, "a service's backends count in one store")
        self.counters = counters
        counts = UnsafePointer(store.base)
    }

    @inline(__always)
    func withActiveCounts<R>(_ body: (UnsafePointer<UInt32>) -> R) -> R {
        body(counts)
    }

    @inline(__always)
    func activeConnections(backend index: Int) -> Int {
        counters[index].active.load(ordering: .relaxed)
    }
}
