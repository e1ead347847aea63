/// Smooth weighted round-robin (nginx's algorithm): each backend gets its share of every cycle
/// of `total weight` picks, interleaved rather than in a burst. With weights 5, 1, 1 a cycle is
/// a a b a c a a: the heavy backend never takes more than ceil(5 / 2) = 3 picks in a row, and
/// never more than its weight in any window of one cycle. A retry is a weighted draw among the
/// backends not tried yet (`RetryDraw`), not the next step of the cycle.
public struct WeightedRoundRobin: BalancingStrategy {
    public static let name = "weighted-round-robin"

    /// Above this many (cycle length × backends) steps the cycle is not precomputed: the build
    /// would cost the control thread too long and the table too much memory, so `pick` runs
    /// the O(n) smooth step itself instead.
    static let precomputeBudget = 1 << 24

    @usableFromInline let indices: [Int]
    @usableFromInline let weights: [Int]
    @usableFromInline let total: Int
    /// One full cycle of positions into `indices`; empty when over the budget.
    @usableFromInline let cycle: [UInt32]
    @usableFromInline var next: Int
    /// The running smooth-WRR counters, used only when `cycle` is empty.
    @usableFromInline var current: [Int]
    @usableFromInline let retry: RetryDraw
    @usableFromInline var retryRandom: SplitMix64

    public init(backends: [BackendEntry], options: StrategyOptions) {
        indices = backends.map(\.index)
        // Dividing by the gcd keeps the cycle as short as the ratios allow (weights 100, 200
        // need a cycle of 3, not 300).
        let divisor = backends.reduce(0) { gcd($0, $1.weight) }
        weights = backends.map { $0.weight / max(1, divisor) }
        total = weights.reduce(0, +)
        current = [Int](repeating: 0, count: weights.count)
        retry = RetryDraw(backends: backends)
        retryRandom = SplitMix64(seed: options.seed)
        if !weights.isEmpty, total <= Int(UInt32.max), total * weights.count <= Self.precomputeBudget {
            var cycle = [UInt32]()
            cycle.reserveCapacity(total)
            var counters = current
            for _ in 0..<total {
                cycle.append(UInt32(Self.smoothStep(&counters, weights: weights, total: total)))
            }
            self.cycle = cycle
            // Workers start at different points of the cycle (seed) so they do not all send
            // their first connections to the same backend.
            next = Int(options.seed % UInt64(total))
        } else {
            cycle = []
            next = 0
        }
    }

    public mutating func reseed(_ seed: UInt64) {
        if !cycle.isEmpty { next = Int(seed % UInt64(cycle.count)) }
        retryRandom = SplitMix64(seed: seed)
    }

    // Not inlinable: it reads no load, and called through `Strategy` it measured cheaper
    // uninlined (e.g. round-robin 47 Ir per pick against 65).
    public mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        guard context.tried.isEmpty else { return retry.draw(hash: retryRandom.next(), excluding: context.tried) }
        if !cycle.isEmpty {
            let position = Int(cycle[next])
            next += 1
            if next == cycle.count { next = 0 }
            return indices[position]
        }
        guard !indices.isEmpty else { return nil }
        return indices[Self.smoothStep(&current, weights: weights, total: total)]
    }

    /// Every counter grows by its weight; the largest wins (first on ties) and pays back the
    /// total, so over a cycle each backend wins exactly its weight.
    @usableFromInline
    static func smoothStep(_ current: inout [Int], weights: [Int], total: Int) -> Int {
        var best = 0
        for i in weights.indices {
            current[i] += weights[i]
            if current[i] > current[best] { best = i }
        }
        current[best] -= total
        return best
    }
}

func gcd(_ a: Int, _ b: Int) -> Int {
    var (a, b) = (a, b)
    while b != 0 { (a, b) = (b, a % b) }
    return a
}
