import Synchronization

/// Traffic counted by one worker for one service. Each counter has a single writer (its
/// worker), so it is bumped with a relaxed load and store — no locked instruction on the relay
/// path — and the control thread sums the workers' counters when someone asks.
public final class TrafficStats: Sendable {
    public let accepted = Atomic<Int>(0)
    public let failed = Atomic<Int>(0)
    let backendBytesIn: [ByteCounter]
    let backendBytesOut: [ByteCounter]

    public init(backendCount: Int) {
        backendBytesIn = (0..<backendCount).map { _ in ByteCounter() }
        backendBytesOut = (0..<backendCount).map { _ in ByteCounter() }
    }
}

final class ByteCounter: Sendable {
    let value = Atomic<UInt64>(0)

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
