import Synchronization

/// Connect time (accept to backend connected) and connection duration (accept to close) for
/// one service on one worker. Single writer (the worker): relaxed loads and stores, no locked
/// instruction; the control thread sums the workers' buckets when /metrics is read.
final class ConnectionHistograms: Sendable {
    static let boundsSeconds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                          1, 2.5, 5, 10, 30, 60, 300]
    let connect = LatencyBuckets()
    let duration = LatencyBuckets()
}

final class LatencyBuckets: Sendable {
    /// One counter per bound, plus one for everything above the last.
    let counts: [ByteCounter] = (0...ConnectionHistograms.boundsSeconds.count).map { _ in ByteCounter() }
    let sumNanoseconds = ByteCounter()

    func record(nanoseconds: UInt64) {
        let seconds = Double(nanoseconds) / 1e9
        var bucket = ConnectionHistograms.boundsSeconds.count
        for (index, bound) in ConnectionHistograms.boundsSeconds.enumerated() where seconds <= bound {
            bucket = index
            break
        }
        counts[bucket].add(1)
        sumNanoseconds.add(Int(truncatingIfNeeded: nanoseconds))
    }
}

/// Summed over workers, for /metrics.
public struct HistogramSnapshot: Sendable {
    public let boundsSeconds: [Double]
    /// Cumulative count at or below each bound.
    public let cumulative: [Int]
    public let sumSeconds: Double
    public let count: Int
}

public struct ServiceHistograms: Sendable {
    public let service: String
    public let connect: HistogramSnapshot
    public let duration: HistogramSnapshot
}

extension Array where Element == LatencyBuckets {
    func snapshot() -> HistogramSnapshot {
        let bucketCount = ConnectionHistograms.boundsSeconds.count + 1
        var totals = [Int](repeating: 0, count: bucketCount)
        var sum: UInt64 = 0
        for buckets in self {
            for index in 0..<bucketCount { totals[index] += Int(buckets.counts[index].value.load(ordering: .relaxed)) }
            sum &+= buckets.sumNanoseconds.value.load(ordering: .relaxed)
        }
        var cumulative: [Int] = []
        var running = 0
        for index in 0..<ConnectionHistograms.boundsSeconds.count {
            running += totals[index]
            cumulative.append(running)
        }
        return HistogramSnapshot(boundsSeconds: ConnectionHistograms.boundsSeconds, cumulative: cumulative,
                                 sumSeconds: Double(sum) / 1e9, count: totals.reduce(0, +))
    }
}
