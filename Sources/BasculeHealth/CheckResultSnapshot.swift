import BasculeConfig

/// The last result of one backend's check, as the admin endpoint and metrics read it.
public enum LastCheckResult: String, Sendable, Equatable {
    /// No check has completed yet (or the service's check type is `none`).
    case pending
    case ok
    case failed
}

/// Check latencies in fixed millisecond buckets, Prometheus-style upper bounds. `counts[i]`
/// counts checks with latency ≤ `upperBoundsMs[i]` and above the previous bound (not
/// cumulative); the last count is everything above the largest bound.
public struct LatencyHistogram: Sendable, Equatable {
    public static let defaultUpperBoundsMs: [Double] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]

    public let upperBoundsMs: [Double]
    public private(set) var counts: [UInt64]
    public private(set) var sumMs: Double = 0
    public private(set) var count: UInt64 = 0

    public init(upperBoundsMs: [Double] = LatencyHistogram.defaultUpperBoundsMs) {
        self.upperBoundsMs = upperBoundsMs
        counts = Array(repeating: 0, count: upperBoundsMs.count + 1)
    }

    public mutating func record(_ latencyMs: Double) {
        let bucket = upperBoundsMs.firstIndex { latencyMs <= $0 } ?? upperBoundsMs.count
        counts[bucket] += 1
        sumMs += latencyMs
        count += 1
    }

    /// Counts per bucket as Prometheus wants them: each includes every smaller bucket.
    public var cumulativeCounts: [UInt64] {
        var running: UInt64 = 0
        return counts.map { running += $0; return running }
    }
}

/// A plain value copy of one backend's check state; safe to hand to another thread.
public struct CheckResultSnapshot: Sendable, Equatable {
    public var service: String
    public var backend: String
    public var checkType: HealthCheckType
    /// The checker's own view (after rise/fall), not necessarily the balancer's: a passive
    /// failure or an operator action can differ from it.
    public var healthy: Bool
    public var lastResult: LastCheckResult
    /// The last check's reason ("http status 200", "connect refused", ...), empty before one.
    public var reason: String
    public var latencyMs: Double
    public var consecutiveSuccesses: Int
    public var consecutiveFailures: Int
    public var checksTotal: UInt64
    public var failuresTotal: UInt64
    public var latency: LatencyHistogram
    /// Where the check connects when that is not the traffic address; nil when it is.
    public var target: String?
    /// The backend's agent, when it has one.
    public var agent: AgentSnapshot?

    public init(service: String, backend: String, checkType: HealthCheckType, healthy: Bool = true,
                lastResult: LastCheckResult = .pending, reason: String = "", latencyMs: Double = 0,
                consecutiveSuccesses: Int = 0, consecutiveFailures: Int = 0, checksTotal: UInt64 = 0,
                failuresTotal: UInt64 = 0, latency: LatencyHistogram = LatencyHistogram()) {
        self.service = service
        self.backend = backend
        self.checkType = checkType
        self.healthy = healthy
        self.lastResult = lastResult
        self.reason = reason
        self.latencyMs = latencyMs
        self.consecutiveSuccesses = consecutiveSuccesses
        self.consecutiveFailures = consecutiveFailures
        self.checksTotal = checksTotal
        self.failuresTotal = failuresTotal
        self.latency = latency
    }
}
