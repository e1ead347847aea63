/// The backend with the fewest active connections per unit of weight. Ties go to the first in
/// scan order, and the scan starts one further on each pick, so equally loaded backends take
/// turns instead of the first one taking every tie.
///
/// O(n) per pick: the counts are live atomics shared by every worker, so there is no ordered
/// structure a worker could keep up to date without a lock; reading n counters is the price.
public struct LeastConnections: BalancingStrategy {
    public static let name = "least-connections"

    @usableFromInline let indices: [Int]
    @usableFromInline let weights: [Int]
    @usableFromInline var start: Int

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        weights = backends.map(\.weight)
        start = indices.isEmpty ? 0 : Int(options.seed % UInt64(indices.count))
    }

    // Inlinable so the proxy's LoadSource is specialised in: no witness-table call per counter.
    @inlinable
    public mutating func reseed(_ seed: UInt64) {
        if !indices.isEmpty { start = Int(seed % UInt64(indices.count)) }
    }

    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        let count = indices.count
        guard count > 0 else { return nil }
        let first = start
        start = first + 1 == count ? 0 : first + 1
        return indices.withUnsafeBufferPointer { indices in
            weights.withUnsafeBufferPointer { weights in
                var best = first
                var bestActive = load.activeConnections(backend: indices[first])
                var i = first
                for _ in 1..<count {
                    i += 1
                    if i == count { i = 0 }
                    let active = load.activeConnections(backend: indices[i])
                    // active/weight < bestActive/bestWeight, without a division.
                    if active &* weights[best] < bestActive &* weights[i] {
                        best = i
                        bestActive = active
                    }
                }
                return indices[best]
            }
        }
    }
}
