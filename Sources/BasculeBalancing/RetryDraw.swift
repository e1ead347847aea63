/// A retry's choice among the backends a connection has not tried yet: a weighted draw over
/// the backends in identity order (name, address), so the clients of a failed backend spread
/// over the survivors in proportion to their weights rather than all landing on the next one
/// in the file, and every worker and node with the same backend set draws the same backend
/// for the same hash, whatever the order of its config file.
///
/// O(n × tried) per draw: only retries and full backends pay it, never a first choice.
public struct RetryDraw: Sendable {
    /// `BackendEntry.index`es and weights, in identity order.
    @usableFromInline let indices: [Int]
    @usableFromInline let weights: [Int]

    /// `weighted: false` draws uniformly, for strategies that ignore weights.
    public init(backends: [BackendEntry], weighted: Bool = true) {
        let sorted = backends.sortedByIdentity()
        indices = sorted.map(\.index)
        weights = weighted ? sorted.map(\.weight) : [Int](repeating: 1, count: sorted.count)
    }

    /// The hash of attempt `attempt` of a client: a fresh, well-mixed value per attempt.
    @inlinable
    public static func hash(_ clientHash: UInt64, attempt: Int) -> UInt64 {
        StableHash.mix64(clientHash ^ (UInt64(truncatingIfNeeded: attempt) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// A `BackendEntry.index` outside `tried`, with probability ∝ weight over the hash; nil
    /// when every backend is in `tried`.
    public func draw(hash: UInt64, excluding tried: [Int]) -> Int? {
        var room = 0
        for (index, weight) in zip(indices, weights) where !tried.contains(index) { room += weight }
        guard room > 0 else { return nil }
        var target = StableHash.reduce(StableHash.mix64(hash), into: room)
        for (index, weight) in zip(indices, weights) where !tried.contains(index) {
            if target < weight { return index }
            target -= weight
        }
        return nil
    }
}
