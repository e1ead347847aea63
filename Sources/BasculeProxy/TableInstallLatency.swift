import Synchronization

/// How long backend state changes take to reach the workers: from the moment the control
/// thread notes a change to the moment a worker routes with a table that carries it (one
/// sample per worker per table). Every worker writes, so the counts are atomic adds; tables
/// are rare next to connections, so that costs nothing that matters.
public final class TableInstallLatency: Sendable {
    public static let boundsSeconds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    /// One counter per bound, plus one for everything above the last.
    private let counts: [ByteCounter] = (0...TableInstallLatency.boundsSeconds.count).map { _ in ByteCounter() }
    private let sumNanoseconds = Atomic<UInt64>(0)

    public init() {}

    func record(nanoseconds: UInt64) {
        let seconds = Double(nanoseconds) / 1e9
        let bucket = Self.boundsSeconds.firstIndex { seconds <= $0 } ?? Self.boundsSeconds.count
        counts[bucket].value.wrappingAdd(1, ordering: .relaxed)
        sumNanoseconds.wrappingAdd(nanoseconds, ordering: .relaxed)
    }

    public func snapshot() -> HistogramSnapshot {
        var cumulative: [Int] = []
        var running = 0
        for index in Self.boundsSeconds.indices {
            running += Int(counts[index].value.load(ordering: .relaxed))
            cumulative.append(running)
        }
        let count = running + Int(counts[Self.boundsSeconds.count].value.load(ordering: .relaxed))
        return HistogramSnapshot(boundsSeconds: Self.boundsSeconds, cumulative: cumulative,
                                 sumSeconds: Double(sumNanoseconds.load(ordering: .relaxed)) / 1e9, count: count)
    }
}
