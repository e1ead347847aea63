#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Client affinity: a client (by `PickContext.clientHash`) keeps its backend while the set is
/// unchanged, on every worker and every balancer node.
///
/// Weighted rendezvous (highest-random-weight) hashing, evaluated once at build time into a
/// power-of-two table of buckets so that `pick` is one mix and one load. Rendezvous hashing
/// is exactly minimal: when a backend leaves, only the buckets it owned move; when a weight
/// changes (slow start), only buckets to or from that backend move. Compared with `maglev` the
/// build is O(buckets × n) and the balance is coarser (about 32 buckets per backend at
/// scale), in exchange for zero collateral movement.
///
/// A retry rehashes: the client hash mixed with the attempt (`RetryDraw.hash`) is looked up
/// again, and if that lands on a backend already tried, drawn among the others by weight.
/// Both depend only on the backend set, so every node retries a client to the same backend.
public struct SourceHash: BalancingStrategy {
    public static let name = "source-hash"

    /// At least this many buckets, and at least `bucketsPerBackend` per backend, so shares
    /// follow the weights within about a percentage point for small pools.
    static let minimumBuckets = 4096
    static let bucketsPerBackend = 32

    @usableFromInline let indices: [Int]
    /// Bucket → position in `indices`.
    @usableFromInline let buckets: [UInt32]
    @usableFromInline let shift: UInt64
    @usableFromInline let retry: RetryDraw

    public init(backends: [BackendEntry], options: StrategyOptions) {
        let sorted = backends.sortedByIdentity()
        indices = sorted.map(\.index)
        retry = RetryDraw(backends: sorted)
        guard !sorted.isEmpty else {
            buckets = []
            shift = 0
            return
        }
        var bucketCount = Self.minimumBuckets
        while bucketCount < sorted.count * Self.bucketsPerBackend { bucketCount *= 2 }
        shift = UInt64(64 - bucketCount.trailingZeroBitCount)
        let identities = sorted.map { StableHash.fnv1a64(StableHash.identity(of: $0)) }
        let weights = sorted.map { Double($0.weight) }
        let uniform = sorted.allSatisfy { $0.weight == sorted[0].weight }

        var buckets = [UInt32](repeating: 0, count: bucketCount)
        for bucket in 0..<bucketCount {
            let key = StableHash.mix64(UInt64(bucket) &+ 0x736F_7572_6365)  // "source"
            var best = 0
            if uniform {
                var bestScore: UInt64 = 0
                for i in identities.indices {
                    let score = StableHash.mix64(key ^ identities[i])
                    if score > bestScore { best = i; bestScore = score }
                }
            } else {
                // Weighted HRW (logarithmic method): maximise w / -ln(u), u uniform in (0, 1);
                // backend i then wins a fraction w_i / Σw of the keys.
                var bestScore = -Double.infinity
                for i in identities.indices {
                    let bits = StableHash.mix64(key ^ identities[i]) >> 11
                    let u = (Double(bits) + 0.5) * 0x1p-53
                    let score = weights[i] / -log(u)
                    if score > bestScore { best = i; bestScore = score }
                }
            }
            buckets[bucket] = UInt32(best)
        }
        self.buckets = buckets
    }

    // Not inlinable: it reads no load, and called through `Strategy` it measured cheaper
    // uninlined (e.g. round-robin 47 Ir per pick against 65).
    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard !indices.isEmpty else { return nil }
        guard context.tried.isEmpty else {
            let hash = RetryDraw.hash(context.clientHash, attempt: context.attempt)
            let rehashed = lookup(hash)
            return context.tried.contains(rehashed) ? retry.draw(hash: hash, excluding: context.tried) : rehashed
        }
        return lookup(context.clientHash)
    }

    @inlinable
    func lookup(_ hash: UInt64) -> Int {
        // Re-mixed so a caller passing raw, poorly spread values still covers every bucket.
        let bucket = Int(truncatingIfNeeded: StableHash.mix64(hash) >> shift)
        return indices[Int(buckets[bucket])]
    }
}
